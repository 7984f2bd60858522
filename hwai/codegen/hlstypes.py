"""The one place where hwai spells HLS C++ types.

Every generator (the native Jinja2 core and the hls4ml bridge) prints fixed-point
types through :func:`hls_type`, so a type means the same thing in every project
hwai writes. Modes follow the Xilinx ``ap_fixed<W,I,Q,O>`` template: when the
modes are the defaults (``AP_TRN`` / ``AP_WRAP``) the short form is printed,
which is what hand-written HLS and hls4ml do and keeps the sources readable.
"""

from __future__ import annotations

from hwai.ir.types import FixedType

_DEFAULT_ROUNDING = "TRN"
_DEFAULT_OVERFLOW = "WRAP"


def hls_type(t: FixedType) -> str:
    """``ap_fixed<W,I[,AP_Q,AP_O]>`` / ``ap_ufixed<...>`` for ``t``.

    The overflow mode is positional after rounding in ap_fixed, so a non-default
    overflow forces the rounding to be printed too.
    """
    kind = "ap_fixed" if t.signed else "ap_ufixed"
    if t.rounding == _DEFAULT_ROUNDING and t.overflow == _DEFAULT_OVERFLOW:
        return f"{kind}<{t.width},{t.integer}>"
    return f"{kind}<{t.width},{t.integer},AP_{t.rounding},AP_{t.overflow}>"


def c_int_type(bits: int, signed: bool = True) -> str:
    """Smallest standard C integer type (``int8_t`` ... ``int64_t``) holding ``bits``."""
    for size in (8, 16, 32, 64):
        if bits <= size:
            return f"{'' if signed else 'u'}int{size}_t"
    raise ValueError(f"no standard C integer type holds {bits} bits")


def ap_int_type(bits: int, signed: bool = True) -> str:
    """``ap_int<N>`` / ``ap_uint<N>`` for raw bit containers (e.g. code I/O)."""
    return f"{'ap_int' if signed else 'ap_uint'}<{bits}>"
