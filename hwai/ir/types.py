"""Fixed-point types and the integer arithmetic that defines them.

A value of type ``FixedType(width=W, integer=I, signed=s)`` is stored as an integer
``q`` and means ``q * 2**-(W - I)``; this is exactly Xilinx ``ap_fixed<W,I,Q,O>``
(``ap_ufixed`` when unsigned). ``integer`` counts the sign bit, as ap_fixed does
(QKeras' ``integer`` does not: QKeras ``quantized_bits(6, 0)`` is ``ap_fixed<6,1>``).

Everything numeric in hwai goes through :func:`requantize`: it is the one place
where rounding (``AP_TRN``, ``AP_RND``, ``AP_RND_CONV``, ...) and overflow
(``AP_WRAP``, ``AP_SAT``, ...) are implemented, following the semantics of the
Xilinx ``ap_fixed_base.h`` headers that hls4ml bundles: first the value is
rounded to the target's fractional bits, then overflow handling is applied to
the rounded value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

import numpy as np


class Rounding(IntEnum):
    """ap_fixed quantization modes; the value is the ``RM`` code of ``hwai_cast.v``."""

    TRN = 0
    TRN_ZERO = 1
    RND = 2
    RND_ZERO = 3
    RND_MIN_INF = 4
    RND_INF = 5
    RND_CONV = 6


class Overflow(IntEnum):
    """ap_fixed overflow modes; the value is the ``OM`` code of ``hwai_cast.v``."""

    WRAP = 0
    SAT = 1
    SAT_ZERO = 2
    SAT_SYM = 3


ROUNDING_MODES = tuple(m.name for m in Rounding)
OVERFLOW_MODES = tuple(m.name for m in Overflow)

# int64 holds any product/sum we produce as long as every intermediate stays under
# 2**62; above that the interpreter switches to Python integers (object arrays).
INT64_SAFE_BITS = 62

IntArray = np.ndarray


@dataclass(frozen=True)
class FixedType:
    """An ap_fixed / ap_ufixed type: ``width`` total bits, ``integer`` bits (sign included)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"fixed-point width must be >= 1, got {self.width}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding {self.rounding!r} not one of {', '.join(ROUNDING_MODES)}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow {self.overflow!r} not one of {', '.join(OVERFLOW_MODES)}")

    # --- derived properties -------------------------------------------------
    @property
    def frac(self) -> int:
        """Fractional bits (may be negative, e.g. ap_fixed<4,8>)."""
        return self.width - self.integer

    @property
    def qmin(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def min_value(self) -> float:
        return math.ldexp(self.qmin, -self.frac)

    @property
    def max_value(self) -> float:
        return math.ldexp(self.qmax, -self.frac)

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> "FixedType":
        return FixedType(self.width, self.integer, self.signed,
                         rounding or self.rounding, overflow or self.overflow)

    def exact(self) -> "FixedType":
        """The same bits with the modes that never alter a representable value."""
        return self.with_modes("TRN", "WRAP")

    # --- conversions --------------------------------------------------------
    def to_float(self, q: IntArray) -> np.ndarray:
        return np.ldexp(np.asarray(q, dtype=np.float64), -self.frac)

    def from_float(self, x: np.ndarray) -> IntArray:
        """Quantize real values into this type (rounding + overflow of this type).

        float64 carries 53 bits, so for widths up to ~50 bits the scaled value is exact
        before rounding, and the result equals ap_fixed's conversion from double.
        """
        x = np.asarray(x, dtype=np.float64)
        scaled = np.ldexp(x, self.frac)
        return _finish(_round_float(scaled, self.rounding), self)

    def grid_codes(self, x: np.ndarray) -> tuple[IntArray, np.ndarray]:
        """Exact codes of real values that lie on this type's grid, and which of them do.

        No rounding: this reads back values a simulator produced *in* this type (float64
        holds them exactly up to ~50 bits). ``ok`` is False for a value off the grid or
        outside the range; its code is then meaningless.
        """
        scaled = np.ldexp(np.asarray(x, dtype=np.float64), self.frac)
        codes = np.rint(scaled)
        ok = (codes == scaled) & (codes >= self.qmin) & (codes <= self.qmax)
        return np.where(ok, codes, 0).astype(np.int64), ok

    def contains(self, q: IntArray) -> bool:
        q = np.asarray(q)
        return bool(q.size == 0 or (q.min() >= self.qmin and q.max() <= self.qmax))

    def to_dict(self) -> dict:
        return {"width": self.width, "integer": self.integer, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    @classmethod
    def from_dict(cls, d: dict) -> "FixedType":
        """Inverse of :meth:`to_dict` (every key present). Recipe dicts, which may leave
        keys out, go through :func:`hwai.ir.numeric.fixed_from_dict` and its defaults."""
        return cls(int(d["width"]), int(d["integer"]), bool(d["signed"]), d["rounding"], d["overflow"])

    def __str__(self) -> str:  # short human form; HLS spelling lives in codegen.hlstypes
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.integer},{self.rounding},{self.overflow}>"


def frac_bits_needed(values: np.ndarray, max_frac: int = 64) -> int:
    """Fewest fractional bits that represent every value exactly, or raise.

    Used on quantized weights coming from QKeras/Brevitas: they lie on a power-of-two
    grid by construction; anything else cannot be a fixed-point constant. Any float is
    a dyadic rational, so callers must bound ``max_frac`` by what the quantizer's bit
    width allows, or a non-power-of-two scale would pass with ~50 fractional bits.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[v != 0]
    if v.size == 0:
        return 0
    for f in range(-32, max_frac + 1):
        scaled = np.ldexp(v, f)
        if np.all(scaled == np.round(scaled)):
            return f
    raise ValueError("values are not on a power-of-two grid (non-po2 scale?)")


# --- the one rounding/overflow implementation --------------------------------

def requantize(q: IntArray, frac_in: int, to: FixedType) -> IntArray:
    """Convert integers with ``frac_in`` fractional bits into type ``to`` (ap_fixed cast)."""
    q = _as_int_array(q)
    shift = frac_in - to.frac
    if shift <= 0:
        return _finish(_lshift(q, -shift), to)
    return _finish(_round_shift(q, shift, to.rounding), to)


def _finish(q: IntArray, to: FixedType) -> IntArray:
    return _overflow(q, to)


def _as_int_array(q) -> IntArray:
    a = np.asarray(q)
    if a.dtype == object:
        return a
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"integer representation expected, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _lshift(q: IntArray, s: int) -> IntArray:
    if s == 0:
        return q
    if q.dtype != object and _maxabs_bits(q) + s > INT64_SAFE_BITS:
        q = q.astype(object)
    return q * (1 << s)


def _maxabs_bits(q: IntArray) -> int:
    return int(np.abs(q).max()).bit_length() if q.size else 0


def _floor_div_pow2(q: IntArray, s: int) -> IntArray:
    return q >> s  # arithmetic shift == floor division for ints and Python ints alike


def _round_shift(q: IntArray, s: int, mode: str) -> IntArray:
    """Divide by 2**s with ap_fixed rounding ``mode`` (exact integer arithmetic)."""
    half = 1 << (s - 1)
    mask = (1 << s) - 1
    floor = _floor_div_pow2(q, s)
    rem = q & mask                      # q - floor*2**s, in [0, 2**s)
    if mode == "TRN":                   # toward -inf
        return floor
    neg = q < 0
    inexact = rem != 0
    if mode == "TRN_ZERO":              # toward zero
        return floor + (neg & inexact)
    above, tie = rem > half, rem == half
    if mode == "RND":                   # nearest, ties toward +inf
        up = above | tie
    elif mode == "RND_MIN_INF":         # nearest, ties toward -inf
        up = above
    elif mode == "RND_ZERO":            # nearest, ties toward zero
        up = above | (tie & neg)
    elif mode == "RND_INF":             # nearest, ties away from zero
        up = above | (tie & ~neg)
    elif mode == "RND_CONV":            # nearest, ties to even
        up = above | (tie & ((floor & 1) == 1))
    else:  # pragma: no cover - guarded by FixedType
        raise ValueError(mode)
    return floor + up


def _round_float(x: np.ndarray, mode: str) -> IntArray:
    """Round already-scaled float64 values to integers with ap_fixed ``mode``."""
    fl = np.floor(x)
    rem = x - fl
    neg = x < 0
    if mode == "TRN":
        r = fl
    elif mode == "TRN_ZERO":
        r = np.trunc(x)
    else:
        above, tie = rem > 0.5, rem == 0.5
        up = {
            "RND": above | tie,
            "RND_MIN_INF": above,
            "RND_ZERO": above | (tie & neg),
            "RND_INF": above | (tie & ~neg),
            "RND_CONV": above | (tie & (np.mod(fl, 2) == 1)),
        }[mode]
        r = fl + up
    if np.any(np.abs(r) >= 2.0 ** INT64_SAFE_BITS):
        return np.array([int(v) for v in r.ravel()], dtype=object).reshape(r.shape)
    return r.astype(np.int64)


def _overflow(q: IntArray, to: FixedType) -> IntArray:
    lo, hi = to.qmin, to.qmax
    mode = to.overflow
    if mode == "WRAP":
        m = 1 << to.width
        w = q & (m - 1)                 # two's-complement wrap: keep the low W bits
        if to.signed:
            w = w - ((w >> (to.width - 1)) & 1) * m
        out = w
    elif mode == "SAT":
        out = np.minimum(np.maximum(q, lo), hi)
    elif mode == "SAT_ZERO":
        out = np.where((q < lo) | (q > hi), 0, q)
    elif mode == "SAT_SYM":
        # Symmetric saturation: ap_fixed_base.h flags a negative result whose low W-1
        # bits are zero (i.e. exactly min) as underflow too, so signed range is [-max, max].
        lo_sym = -hi if to.signed else lo
        out = np.minimum(np.maximum(q, lo_sym), hi)
    else:  # pragma: no cover
        raise ValueError(mode)
    return _narrow(np.asarray(out))


def _narrow(q: IntArray) -> IntArray:
    """Return int64 arrays when the values fit (they do after any overflow step <= 62 bits)."""
    if q.dtype == object and (q.size == 0 or _maxabs_bits(q) <= INT64_SAFE_BITS):
        return q.astype(np.int64)
    return q


Number = Union[int, float]
