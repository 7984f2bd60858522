"""Building blocks of the per-op cost rules, per-node dispatch, and EBOPs.

Each op's rule is its ``cost`` hook (dense: :mod:`hwai.ops.dense`, the cast ops:
:mod:`hwai.ops.cast`, expr: :mod:`hwai.estimate.rules_expr`); the pieces they share
— cast logic bits, levels -> delay -> cycles — are here, next to the coefficients
they are fitted with (``calibration/fit.py``).
"""

from __future__ import annotations

import math

import numpy as np

from hwai.estimate.cost import Coefficients, Cost
from hwai.estimate.rules_mult import csd, dsp_count, mult_kind, odd_bits  # noqa: F401 (re-export)
from hwai.ir.graph import Graph, Node
from hwai.ir.numeric import range_bits
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType
from hwai.target import Target

# --- per-op rules -----------------------------------------------------------


def node_cost(graph: Graph, node: Node, target: Target, c: Coefficients,
              iv: dict | None = None) -> tuple[Cost, str]:
    """Cost of one node and an optional note (approximations the caller should know).

    ``iv``: :func:`hwai.passes.precision.intervals` of the graph (computed if absent).
    """
    if iv is None:
        from hwai.passes.precision import intervals
        iv = intervals(graph)
    return op_of(node).cost(graph, node, target, c, iv)


def rom_luts(entries: int, width: int) -> float:
    """LUT6s of an ``entries`` x ``width``-bit ROM in distributed logic: one LUT6 is a
    64-entry, 1-bit ROM (UG574), so entries / 64 per output bit (F7/F8 muxes join four),
    at least one per bit. Lookup tables of the expr and table ops."""
    return max(1.0, entries / 64) * width


def cast_bits(src: FixedType, dst: FixedType) -> int:
    """Carry-chain bits of the logic in a cast (the shape of ``hwai_cast.v``): a rounding
    increment over the kept source bits (integer bits + the destination's fraction) and,
    when the value may overflow a saturating type, a magnitude compare over the whole
    source word. Sized by the source, not the destination: a wide accumulator costs more
    to round and clamp to 8 bits than a narrow one (leave-one-out on the fit designs:
    median 13.6 % / p90 33.1 % vs 13.9 % / 35.2 % for destination-width sizing)."""
    logic = 0
    if dst.rounding != "TRN" and src.frac > dst.frac:
        logic += src.width - (src.frac - dst.frac)
    may_overflow = (src.integer > dst.integer or (src.signed and not dst.signed)
                    or (dst.overflow == "SAT_SYM" and src.signed and dst.signed))
    if dst.overflow != "WRAP" and may_overflow:
        logic += src.width
    return logic


def levels_delay_ns(levels: float, width: int, c: Coefficients) -> float:
    """Combinational delay of ``levels`` LUT/adder levels on ``width``-bit carry chains."""
    return levels * (c.ns_per_level + c.ns_per_carry_bit * width)


def levels_to_cycles(levels: float, width: int, target: Target, c: Coefficients) -> int:
    """Cycles a combinational depth needs: delay / usable period, at least 1 register."""
    delay = levels_delay_ns(levels, width, c)
    return max(1, math.ceil(delay / (target.clock_period_ns * c.clock_margin)))


# --- EBOPs --------------------------------------------------------------------


def ebops(graph: Graph) -> float:
    """Effective bit operations: Σ bits(a)·bits(w) over non-zero constant multiplies.

    HGQ's resource proxy (Sun et al., "Gradient-based automatic mixed precision
    quantization for neural networks on-chip", arXiv:2405.00645): it tracks LUT cost of
    fully unrolled designs well. bits(a) is the width of the input element's exact
    interval (:func:`hwai.passes.precision.intervals`) without the low bits its own type
    keeps at zero (an element of a per-element quantizer with fewer fractional bits than
    the tensor type); bits(w) is the odd-part width of the weight (trailing zeros are
    wiring, not multiplier work).
    """
    from hwai.passes.precision import intervals

    iv = intervals(graph)
    total = 0.0
    for node in graph.nodes:
        ws = op_of(node).weights(node)
        if not ws:
            continue
        lo, hi, _ = iv[node.inputs[0]]
        tz = _zero_low_bits(graph, node.inputs[0], len(lo))
        abits = np.array([range_bits(int(a) >> z, int(b) >> z) for a, b, z in zip(lo, hi, tz)], dtype=np.float64)
        w = np.asarray(ws[0], dtype=np.int64)
        wbits = np.vectorize(odd_bits, otypes=[np.int64])(w).astype(np.float64)
        total += float((abits.reshape(-1, w.shape[0]) @ wbits).sum())
    return total


def _zero_low_bits(graph: Graph, tensor: str, n: int) -> list[int]:
    """Low bits of each element that are always 0 (the producer's ``trailing_zeros`` hook:
    a per-element quantizer's elements on coarser grids than the tensor type)."""
    prod = graph.producer(tensor)
    tz = op_of(prod).trailing_zeros(graph, prod) if prod is not None else None
    return [0] * n if tz is None else [int(z) for z in tz]

