"""Cost rule of a dense layer built as one distributed-arithmetic program (``impl.arith='da'``).

The program (:mod:`hwai.codegen.da`) lists every adder with its exact result interval and
its operands' alignment, so the rule is the tree rule applied to the shared graph: each
adder costs its carry-chain bits (:func:`hwai.estimate.tree.carry_bits`, the same rule as
the per-neuron trees), counted once however many neurons read it. Only adders in the
cone of a live neuron count (synthesis removes the others). The casts after the sum, the
output registers and the pipeline follow the dense rule (:mod:`hwai.ops.dense`).
"""

from __future__ import annotations

from typing import Any

from hwai.estimate.cost import Coefficients, Cost
from hwai.estimate.rules import cast_bits, levels_delay_ns, levels_to_cycles
from hwai.estimate.tree import carry_bits
from hwai.ir.types import FixedType
from hwai.target import Target


def adder_bits(prog: Any, k: int) -> int:
    """Carry-chain bits of node ``k`` of the program (0 for inputs and constants)."""
    n = prog.nodes[k]
    if n.kind == "neg":
        return carry_bits(n.lo, n.hi, prog.nodes[n.a].tz, 0)
    if n.kind not in ("add", "sub"):
        return 0
    a, b = prog.nodes[n.a], prog.nodes[n.b]
    if n.kind == "sub":
        # a - b: below b's trailing zeros a's bits pass through, but where only a has
        # zeros, 0 - b already borrows, so the chain starts at b's trailing zeros
        return carry_bits(n.lo, n.hi, 0, b.tz + n.sb)
    return carry_bits(n.lo, n.hi, a.tz + n.sa, b.tz + n.sb)


def da_cost(prog: Any, live: list[int], ta: FixedType, tout: FixedType, dead_bits: int,
            target: Target, c: Coefficients) -> tuple[Cost, str]:
    """LUT/FF/latency of the program's live neurons ``live`` (output indices).

    ``dead_bits``: low output bits no consumer reads (registers synthesis removes)."""
    cone = prog.cone(live)
    bits = sum(adder_bits(prog, k) for k in cone)
    out_cast = cast_bits(ta, tout) * len(live)
    lut = c.lut_per_add_bit * bits * c.add_width_frac + c.lut_per_cast_bit * out_cast
    widths = [prog.nodes[prog.outputs[j]].width for j in live]
    depth = max((prog.nodes[prog.outputs[j]].level for j in live), default=0)
    width = max(widths, default=1)
    levels = max(depth + int(out_cast > 0), 1)
    cycles = levels_to_cycles(levels, width, target, c)
    stage_ns = levels_delay_ns(max(levels / cycles, 1.0), width, c)
    reg_bits = sum(max(min(w, tout.width) - dead_bits, 1) for w in widths)
    ff = c.ff_per_reg_bit * reg_bits * cycles
    adders = sum(1 for k in cone if adder_bits(prog, k))
    return (Cost(lut, ff, 0, 0.0, cycles, 1, stage_ns),
            f"arith=da: {adders} shared adders, {depth} levels (da4ml)")


def unused_note(reason: str) -> str:
    return f"arith=da not used ({reason}): built as per-neuron CSD trees"
