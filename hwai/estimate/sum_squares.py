"""Cost rule of ``sum_squares`` (:mod:`hwai.ops.sum_squares`): n variable x variable squares
and an (n - 1)-adder tree as wide as the exact sum, then one registered output."""

from __future__ import annotations

import math
from typing import Any

from hwai.estimate.cost import Coefficients, Cost
from hwai.estimate.rules import levels_to_cycles
from hwai.estimate.rules_mult import dsp_count


def square_cost(bits: int, c: Coefficients) -> tuple[float, int]:
    """(LUT, DSP) of one w x w product of a signal with itself: a DSP48 when both operands
    exceed ``dsp_min_bits`` (the Vivado rule hwai uses for dense products), else an array
    multiplier of w rows of w-bit carry-chain adds (w² adder bits)."""
    if bits > c.dsp_min_bits:
        return 0.0, dsp_count(bits, bits, c)
    return float(bits * bits) * c.lut_per_add_bit, 0


def sum_squares_cost(graph: Any, node: Any, target: Any, c: Coefficients) -> tuple[Cost, str]:
    x = graph.tensor(node.inputs[0])
    n, bits = x.size, x.type.width
    lut, dsp = square_cost(bits, c)
    acc = node.attrs.accum_type.width
    adders = float(max(n - 1, 0) * acc) * c.lut_per_add_bit
    levels = (0 if dsp else bits) + math.ceil(math.log2(max(n, 1)))
    cycles = levels_to_cycles(levels, acc, target, c)
    out = graph.tensor(node.outputs[0]).type.width
    return (Cost(n * lut + adders, float(out), n * dsp, 0.0, cycles, 1),
            f"{n} squares ({'DSP' if dsp else 'LUT array'}) + adder tree")
