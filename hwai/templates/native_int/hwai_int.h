// hwai integer C-simulation flavour: ap_fixed casts over plain int64 codes.
// A value of ap_fixed<W,I,Q,O> is held as its code q (value = q * 2^-(W-I)); a cast
// from F fractional bits is a shift by S = F - F_out with Q rounding, then O overflow,
// exactly as hwai.ir.types.requantize (and the Xilinx ap_fixed_base.h headers) define
// them. Not for synthesis: the ap_fixed flavour is the one handed to the HLS tools.
#ifndef HWAI_INT_H_
#define HWAI_INT_H_
#include <cstdint>

namespace hwai_int {

typedef long long i64;
typedef unsigned long long u64;

enum Rounding { TRN, TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV };
enum Overflow { WRAP, SAT, SAT_ZERO, SAT_SYM };

// Divide by 2^S (S > 0) with rounding mode R; >> is floor division on two's complement.
template <int S, Rounding R>
inline i64 round_shift(i64 q) {
    const i64 floor = q >> S;
    if constexpr (R == TRN) return floor;
    const i64 rem = q & ((i64(1) << S) - 1);
    const i64 half = i64(1) << (S - 1);
    if constexpr (R == TRN_ZERO) return floor + (q < 0 && rem != 0);
    if constexpr (R == RND) return floor + (rem >= half);
    if constexpr (R == RND_MIN_INF) return floor + (rem > half);
    if constexpr (R == RND_ZERO) return floor + (rem > half || (rem == half && q < 0));
    if constexpr (R == RND_INF) return floor + (rem > half || (rem == half && q >= 0));
    return floor + (rem > half || (rem == half && (floor & 1)));  // RND_CONV
}

// Overflow handling into a W-bit code (signed: two's complement).
template <int W, bool SIGNED, Overflow O>
inline i64 overflow(i64 q) {
    constexpr i64 qmax = SIGNED ? (i64(1) << (W - 1)) - 1 : (i64(1) << W) - 1;
    constexpr i64 qmin = SIGNED ? -(i64(1) << (W - 1)) : 0;
    if constexpr (O == WRAP) {
        if constexpr (SIGNED) return i64(u64(q) << (64 - W)) >> (64 - W);
        else return i64((u64(q) << (64 - W)) >> (64 - W));
    } else if constexpr (O == SAT) {
        return q < qmin ? qmin : (q > qmax ? qmax : q);
    } else if constexpr (O == SAT_ZERO) {
        return (q < qmin || q > qmax) ? 0 : q;
    } else {  // SAT_SYM: the most negative code is excluded, range [-qmax, qmax]
        constexpr i64 lo = SIGNED ? -qmax : qmin;
        return q < lo ? lo : (q > qmax ? qmax : q);
    }
}

// cast(q with F fractional bits) into ap_fixed<W, W - F_out, R, O>, S = F - F_out.
template <int S, int W, bool SIGNED, Rounding R, Overflow O>
inline i64 cast(i64 q) {
    if constexpr (S > 0) return overflow<W, SIGNED, O>(round_shift<S, R>(q));
    else if constexpr (S < 0) return overflow<W, SIGNED, O>(i64(u64(q) << -S));
    else return overflow<W, SIGNED, O>(q);
}

}  // namespace hwai_int
#endif
