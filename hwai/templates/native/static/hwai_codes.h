// Raw integer codes <-> ap_fixed values, for hwai's testbench and C-simulation bridge.
// A code q of ap_fixed<W,I> means q * 2^-(W-I); moving bits (not values) keeps
// every conversion exact for all rounding/overflow modes.
#ifndef HWAI_CODES_H_
#define HWAI_CODES_H_

#include "ap_fixed.h"
#include "ap_int.h"

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void hwai_set_code(ap_fixed<W, I, Q, O, N>& v, long long q) {
    v.range(W - 1, 0) = ap_int<W>(q).range(W - 1, 0);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void hwai_set_code(ap_ufixed<W, I, Q, O, N>& v, long long q) {
    v.range(W - 1, 0) = ap_uint<W>(q).range(W - 1, 0);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long hwai_get_code(const ap_fixed<W, I, Q, O, N>& v) {
    ap_int<W> r;
    r.range(W - 1, 0) = v.range(W - 1, 0);
    return r.to_int64();  // sign-extends
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long hwai_get_code(const ap_ufixed<W, I, Q, O, N>& v) {
    ap_uint<W> r;
    r.range(W - 1, 0) = v.range(W - 1, 0);
    return (long long)r.to_uint64();
}

// Fill n values from their codes (used by hwai's C-simulation build for weight tables).
template <class T>
inline bool hwai_load_codes(T* dst, const long long* codes, int n) {
    for (int i = 0; i < n; i++) hwai_set_code(dst[i], codes[i]);
    return true;
}

#endif
