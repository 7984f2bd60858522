"""The fixed-point rules, once: widths from intervals, cast intervals, accumulator
exactness, recipe dict -> :class:`FixedType`, and the rounding/overflow codes.

:mod:`hwai.ir.types` defines what a type *is* (``FixedType`` and the one rounding and
overflow implementation, :func:`~hwai.ir.types.requantize`); this module holds every rule
*derived* from it that more than one layer needs (precision inference, the golden model,
the estimator, the HLS and Verilog emitters, the engines and the recipe steps). A rule
written twice drifts: these were written up to five times and the copies disagreed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hwai.ir.types import FixedType, Overflow, Rounding, requantize

__all__ = ["DEFAULT_TYPE", "FIXED_DEFAULTS", "Interval", "Overflow", "Rounding", "ScalarInterval", "accum_is_modular",
           "cast_interval", "cast_interval_elements", "cast_interval_scalar", "covering_type", "element_types",
           "fixed_from_dict", "holds",
           "range_bits", "requantize_elements", "rtl_codes", "signed_bits", "type_for_range", "unsigned_bits"]

# Interval of a tensor: (qlo, qhi, frac), per element (object arrays of Python ints).
Interval = tuple[np.ndarray, np.ndarray, int]
# One value's interval: (qlo, qhi, frac) with Python ints.
ScalarInterval = tuple[int, int, int]

# What a recipe's ``{width, integer}`` means when it leaves the rest out: a signed
# ap_fixed that rounds to nearest-even and saturates. That is QKeras' quantized_bits /
# Brevitas' fixed-point behaviour (round, clip) and hls4ml's ``ap_fixed<16,6>`` spelled with
# the modes that keep a quantized network's values, not TRN/WRAP which would fold
# out-of-range inputs around. The recipe schema fills the same defaults (tested).
FIXED_DEFAULTS: dict[str, Any] = {"signed": True, "rounding": "RND_CONV", "overflow": "SAT"}
_FIXED_KEYS = ("width", "integer", "signed", "rounding", "overflow")
# The type of a tensor nobody typed (float inputs, weights, activations): hls4ml's default
# ap_fixed<16,6>, with the defaults above.
DEFAULT_TYPE = FixedType(16, 6, **FIXED_DEFAULTS)


# --- bit widths from integer ranges -------------------------------------------

def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement bits holding every integer in ``lo..hi`` (at least 1)."""
    neg = (-int(lo) - 1).bit_length() if lo < 0 else 0
    pos = int(hi).bit_length() if hi > 0 else 0
    return max(neg, pos) + 1


def unsigned_bits(hi: int) -> int:
    """Bits of an unsigned integer up to ``hi`` (0 for ``hi <= 0``)."""
    return int(hi).bit_length() if hi > 0 else 0


def range_bits(lo: int, hi: int) -> int:
    """Bits holding ``lo..hi``, with a sign bit only when ``lo < 0`` (may be 0)."""
    return signed_bits(lo, hi) if lo < 0 else unsigned_bits(hi)


def type_for_range(qlo: int, qhi: int, frac: int, rounding: str = "TRN",
                   overflow: str = "WRAP", force_signed: bool | None = None) -> FixedType:
    """Smallest type with ``frac`` fractional bits holding integers ``qlo..qhi`` exactly.

    This is how hwai derives widths from value intervals instead of guessing them.
    """
    signed = (qlo < 0) if force_signed is None else force_signed
    if not signed and qlo < 0:
        raise ValueError("unsigned type requested for a negative range")
    bits = signed_bits(qlo, qhi) if signed else max(1, unsigned_bits(qhi))
    return FixedType(bits, bits - frac, signed, rounding, overflow)


# --- cast intervals -----------------------------------------------------------

def cast_interval(iv: Interval, to: FixedType) -> Interval:
    """Interval of ``cast(x, to)`` per element, exact for every rounding/overflow mode.

    Rounding is monotone, so the rounded ends bound the rounded values. An element that
    cannot overflow keeps them. One that can: WRAP may give any code; SAT/SAT_SYM clamp
    the ends; SAT_ZERO clamps and adds 0 (the overflowed values), so ``[0, 200]`` cast to
    ``fixed<6,6,TRN,SAT_ZERO>`` is ``[0, 31]``.
    """
    lo, hi, frac = iv
    width = _wide_width(lo, hi, frac, to)
    wide = FixedType(width, width - to.frac, True, to.rounding, "WRAP")  # rounding only, never wraps
    rlo = requantize(np.asarray(lo, dtype=object), frac, wide).astype(object)
    rhi = requantize(np.asarray(hi, dtype=object), frac, wide).astype(object)
    over = (rlo < to.qmin) | (rhi > to.qmax)
    if to.overflow == "WRAP":
        return np.where(over, to.qmin, rlo).astype(object), np.where(over, to.qmax, rhi).astype(object), to.frac
    floor = -to.qmax if (to.overflow == "SAT_SYM" and to.signed) else to.qmin
    qlo = np.minimum(np.maximum(rlo, floor), to.qmax)
    qhi = np.minimum(np.maximum(rhi, floor), to.qmax)
    if to.overflow == "SAT_ZERO":
        qlo = np.where(over, np.minimum(qlo, 0), qlo)
        qhi = np.where(over, np.maximum(qhi, 0), qhi)
    return qlo.astype(object), qhi.astype(object), to.frac


def _wide_width(lo: Any, hi: Any, frac: int, to: FixedType) -> int:
    """A WRAP type wide enough that rounding ``lo..hi`` into ``to.frac`` bits never wraps."""
    ends = [int(v) for v in np.asarray(lo, dtype=object).ravel()] + \
           [int(v) for v in np.asarray(hi, dtype=object).ravel()]
    mag = max((signed_bits(v, v) for v in ends), default=1)
    return mag + max(to.frac - frac, 0) + 2


def cast_interval_scalar(iv: ScalarInterval, to: FixedType) -> ScalarInterval:
    """:func:`cast_interval` of one value's ``(qlo, qhi, frac)``."""
    lo, hi, frac = cast_interval((np.array([iv[0]], dtype=object), np.array([iv[1]], dtype=object),
                                  iv[2]), to)
    return int(lo[0]), int(hi[0]), frac


# --- heterogeneous (per-element) types --------------------------------------
# HGQ-style quantizers give every element of a tensor its own fixed-point type. The IR
# keeps one *covering* type per tensor (what the wires and HLS arrays are declared as)
# and the element types beside it; every rule below is the uniform rule applied per
# distinct element type, so there is still one definition of a cast.

def element_types(widths: Any, integers: Any, signed: Any, rounding: str = "TRN",
                  overflow: str = "WRAP") -> list[FixedType | None]:
    """Flattened per-element types (None where the width is 0: the element is constant 0)."""
    w, i, s = (np.asarray(a).ravel() for a in (widths, integers, signed))
    return [FixedType(int(a), int(b), bool(c), rounding, overflow) if a > 0 else None
            for a, b, c in zip(w, i, s)]


def covering_type(widths: Any, integers: Any, signed: Any, rounding: str = "TRN",
                  overflow: str = "WRAP") -> FixedType:
    """The narrowest single type that holds every element type's values exactly:
    fractional bits = the most any element has, range = the union of their ranges."""
    types = {t for t in element_types(widths, integers, signed, rounding, overflow) if t is not None}
    if not types:
        return FixedType(1, 1, False, rounding, overflow)       # all elements are constant 0
    frac = max(t.frac for t in types)
    lo = min(t.qmin << (frac - t.frac) for t in types)
    hi = max(t.qmax << (frac - t.frac) for t in types)
    return type_for_range(lo, hi, frac, rounding, overflow)


def _groups(widths: Any, integers: Any, signed: Any) -> dict[tuple[int, int, bool], np.ndarray]:
    """Flat element indices of each distinct (width, integer, signed) triple."""
    key = np.stack([np.asarray(a, dtype=np.int64).ravel() for a in (widths, integers, signed)], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    return {(int(w), int(i), bool(s)): np.flatnonzero(inv.ravel() == k) for k, (w, i, s) in enumerate(uniq)}


def requantize_elements(q: np.ndarray, frac: int, widths: Any, integers: Any, signed: Any,
                        out: FixedType) -> np.ndarray:
    """Cast element ``i`` of ``q`` (batch, *shape; ``frac`` fractional bits) into its own
    type (rounding/overflow of ``out``), then re-express it on ``out``'s grid (exact: ``out``
    covers every element type). A 0-width element is 0."""
    q = np.asarray(q)
    flat = q.reshape(q.shape[0], -1)
    res = np.zeros(flat.shape, dtype=object if flat.dtype == object else np.int64)
    for (w, i, s), idx in _groups(widths, integers, signed).items():
        if w == 0:
            continue
        t = FixedType(w, i, s, out.rounding, out.overflow)
        res[:, idx] = requantize(flat[:, idx], frac, t) * (1 << (out.frac - t.frac))
    return res.reshape(q.shape)


def cast_interval_elements(iv: Interval, widths: Any, integers: Any, signed: Any,
                           out: FixedType) -> Interval:
    """:func:`cast_interval` per element type, on ``out``'s grid (0-width elements: [0, 0])."""
    lo, hi, frac = (np.asarray(iv[0], dtype=object).ravel(), np.asarray(iv[1], dtype=object).ravel(), iv[2])
    rlo, rhi = np.zeros(lo.shape, dtype=object), np.zeros(hi.shape, dtype=object)
    for (w, i, s), idx in _groups(widths, integers, signed).items():
        if w == 0:
            continue
        t = FixedType(w, i, s, out.rounding, out.overflow)
        a, b, _ = cast_interval((lo[idx], hi[idx], frac), t)
        rlo[idx], rhi[idx] = a * (1 << (out.frac - t.frac)), b * (1 << (out.frac - t.frac))
    return rlo, rhi, out.frac


def holds(outer: FixedType, inner: FixedType) -> bool:
    """Every value of ``inner`` is exactly a value of ``outer``."""
    if inner.frac > outer.frac:
        return False
    sh = outer.frac - inner.frac
    return outer.qmin <= inner.qmin << sh and inner.qmax << sh <= outer.qmax


# --- accumulators -------------------------------------------------------------

def accum_is_modular(ta: FixedType, fp: int, fb: int) -> bool:
    """True when summing exactly and wrapping once equals hls4ml's step-by-step sum.

    Products (``fp`` fractional bits) and the bias (``fb``) enter the accumulator without
    rounding (its fractional bits cover theirs) and overflow wraps: two's-complement
    addition is associative modulo 2**W, so the order of the additions no longer matters
    and a balanced adder tree gives the bits of hls4ml's loop.
    """
    return ta.overflow == "WRAP" and ta.frac >= fp and ta.frac >= fb


# --- recipe dicts -------------------------------------------------------------

def fixed_from_dict(spec: Mapping[str, Any] | FixedType | None,
                    default: FixedType | None = None) -> FixedType | None:
    """A recipe's ``{width, integer[, signed, rounding, overflow]}`` -> FixedType.

    Missing or ``None`` keys take :data:`FIXED_DEFAULTS`; no ``width`` (or no dict) gives
    ``default``; a FixedType passes through. ``integer`` counts the sign bit (ap_fixed).
    """
    if isinstance(spec, FixedType):
        return spec
    if not spec or spec.get("width") is None:
        return default
    if spec.get("integer") is None:
        raise ValueError("a fixed-point type needs 'integer' (integer bits, sign included) with 'width'")
    d = {**FIXED_DEFAULTS, **{k: spec[k] for k in _FIXED_KEYS if spec.get(k) is not None}}
    return FixedType(int(d["width"]), int(d["integer"]), bool(d["signed"]), str(d["rounding"]),
                     str(d["overflow"]))


# --- RTL codes ----------------------------------------------------------------

def rtl_codes(t: FixedType) -> dict[str, int]:
    """``RM``/``OM`` parameters of ``hwai_cast.v`` for ``t`` (its localparams are checked
    against :class:`Rounding`/:class:`Overflow` by a test)."""
    return {"RM": int(Rounding[t.rounding]), "OM": int(Overflow[t.overflow])}

