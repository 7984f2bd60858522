"""Adder-tree cost of one neuron from exact operand intervals.

A fully unrolled neuron is a balanced tree of 2-input adders over shifted copies of
its inputs (one per CSD digit of each constant weight), DSP products and the bias —
the structure hwai's Verilog emitter builds and close to what Vivado builds from
hls4ml's unrolled loop. An adder's LUT cost is its carry-chain length: result bits
above the larger operand's trailing-zero count (bits below it pass through as wiring;
UltraScale+ LUT6 + CARRY8 spend one LUT per remaining bit, UG574). Widths come from
exact intervals, the da4ml habit, not from declared types.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hwai.estimate.cost import Coefficients
from hwai.estimate.rules_mult import csd, dsp_count, mult_kind, odd_bits
from hwai.ir.numeric import signed_bits


@dataclass(frozen=True)
class Leaf:
    lo: int
    hi: int
    tz: int        # known trailing zero bits


@dataclass(frozen=True)
class TreeCost:
    adder_bits: int    # Σ carry-chain bits over all adders
    adders: int
    depth: int         # adder levels
    dsp: int
    lo: int            # interval of the (exact) sum
    hi: int


def _tz(v: int) -> int:
    v = abs(int(v))
    return (v & -v).bit_length() - 1 if v else 0


def neuron_leaves(x_lo, x_hi, wcol, bias: int, sh_x: int, x_bits: int,
                  c: Coefficients, x_tz: Sequence[int] | None = None) -> tuple[list[Leaf], int]:
    """Leaves of one neuron (all at the sum's fractional bits) and its DSP count.

    ``x_tz``: known trailing zero bits of each input's codes, given when the producer puts
    elements on their own grids (a per-element quant: :meth:`hwai.ops.base.Op.trailing_zeros`);
    those low bits of the partial products are constant 0, wiring, not adder bits, and
    an element that is always 0 (0 bits) adds nothing. (Without ``x_tz`` a constant-0
    input, e.g. a dead relu, keeps the cost the calibration designs were fitted with.)"""
    leaves, dsp = [], 0
    for n, (lo, hi, w) in enumerate(zip(x_lo, x_hi, wcol)):
        w, lo, hi = int(w), int(lo), int(hi)
        kind = mult_kind(w, x_bits, c)
        if kind == "zero" or (x_tz is not None and lo == hi == 0):
            continue
        tz = int(x_tz[n]) if x_tz is not None else 0
        if kind == "dsp":
            dsp += dsp_count(x_bits, odd_bits(w) + 1, c)
            a, b = sorted((w * lo << sh_x, w * hi << sh_x))
            leaves.append(Leaf(a, b, _tz(w) + sh_x + tz))
            continue
        for k, s in csd(w):
            a, b = sorted((s * lo << (k + sh_x), s * hi << (k + sh_x)))
            leaves.append(Leaf(a, b, k + sh_x + tz))
    if bias:
        leaves.append(Leaf(bias, bias, _tz(bias)))
    return leaves, dsp


def carry_bits(lo: int, hi: int, tz_a: int, tz_b: int) -> int:
    """Carry-chain bits of one adder with result ``lo..hi`` and operands with ``tz_a``,
    ``tz_b`` known trailing zeros: below the larger, the other operand's bits pass through."""
    return max(signed_bits(lo, hi) - max(tz_a, tz_b), 1)


def tree_cost(leaves: list[Leaf], dsp: int = 0) -> TreeCost:
    """Balanced pairwise tree (adjacent pairs, odd one carried), as the emitter builds it."""
    if not leaves:
        return TreeCost(0, 0, 0, dsp, 0, 0)
    bits, adders, level, nodes = 0, 0, 0, list(leaves)
    while len(nodes) > 1:
        nxt = []
        for a, b in zip(nodes[0::2], nodes[1::2]):
            lo, hi = a.lo + b.lo, a.hi + b.hi
            bits += carry_bits(lo, hi, a.tz, b.tz)
            adders += 1
            nxt.append(Leaf(lo, hi, min(a.tz, b.tz)))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    return TreeCost(bits, adders, level, dsp, nodes[0].lo, nodes[0].hi)


def depth_of(n_leaves: int) -> int:
    return math.ceil(math.log2(n_leaves)) if n_leaves > 1 else 0
