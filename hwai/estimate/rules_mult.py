"""Constant-multiplier analysis shared by the estimator and the Verilog emitter.

:func:`mult_kind` is *the same function* the Verilog emitter uses to choose between a DSP
product and a shift-add network, so the DSP count of an estimate equals what synthesis
of hwai's Verilog produces (DSP exactness is then a test of the emitter, not luck).
"""

from __future__ import annotations

import math

from hwai.estimate.cost import Coefficients

# --- constant multipliers ----------------------------------------------------


def csd(v: int) -> list[tuple[int, int]]:
    """Canonical signed-digit form of ``v`` as ``(shift, sign)`` pairs, low digit first.

    CSD has the fewest non-zero digits of any signed-binary form (Reitwiesner 1960), so
    a constant multiply costs ``len(csd(w)) - 1`` adders — the standard multiplierless
    constant-multiplication baseline (also da4ml's starting point).
    """
    digits, k, v = [], 0, int(v)
    while v != 0:
        if v & 1:
            d = 2 - (v & 3)           # +1 if v = 1 mod 4, -1 if v = 3 mod 4
            digits.append((k, d))
            v -= d
        v >>= 1
        k += 1
    return digits


def odd_bits(v: int) -> int:
    """Bits of the odd part of |v|: the multiplier work a constant really needs."""
    a = abs(int(v))
    if a == 0:
        return 0
    return (a >> ((a & -a).bit_length() - 1)).bit_length()


def mult_kind(w: int, x_bits: int, coeffs: Coefficients) -> str:
    """'zero' (no hardware), 'shift' (±2^k: wiring), 'dsp' or 'lut' (shift-add)."""
    if w == 0:
        return "zero"
    nb = odd_bits(w)
    if nb == 1:
        return "shift"
    # Vivado HLS rule of thumb: DSP only when both operands exceed ~10 bits (sign included).
    if x_bits > coeffs.dsp_min_bits and nb + 1 > coeffs.dsp_min_bits:
        return "dsp"
    return "lut"


def dsp_count(a_bits: int, b_bits: int, coeffs: Coefficients) -> int:
    """DSP48E2 slices for an a x b product (27x18 ports, best orientation; UG579)."""
    pa, pb = coeffs.dsp_a_bits, coeffs.dsp_b_bits
    return min(math.ceil(a_bits / pa) * math.ceil(b_bits / pb),
               math.ceil(a_bits / pb) * math.ceil(b_bits / pa))
