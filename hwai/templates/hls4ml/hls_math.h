// C-simulation stand-in for Xilinx hls_math.h (written by hwai; not for synthesis).
#ifndef HWAI_HLS_MATH_SHIM_H_
#define HWAI_HLS_MATH_SHIM_H_
#include <cmath>
#include "ap_fixed.h"
namespace hls {
#define HWAI_SHIM(F) template <class T> T F(T x) { return T(std::F(x.to_double())); }
HWAI_SHIM(exp) HWAI_SHIM(log) HWAI_SHIM(sin) HWAI_SHIM(cos) HWAI_SHIM(tan) HWAI_SHIM(tanh)
HWAI_SHIM(sqrt) HWAI_SHIM(asin) HWAI_SHIM(acos) HWAI_SHIM(atan)
template <class T> T atan2(T y, T x) { return T(std::atan2(y.to_double(), x.to_double())); }
#undef HWAI_SHIM
}  // namespace hls
#endif
