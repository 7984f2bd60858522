"""Cost rule for the ``expr`` op (symbolic-regression expressions).

Per instruction of the expression program (see :mod:`hwai.ir.expr`):

- add/sub/neg: a carry-chain adder, ``lut_per_add_bit`` LUTs per result bit (UG574
  LUT6 + CARRY8; the same fitted coefficient as the dense adder trees), one level.
- mul of two variables: a DSP48E2 when both operands exceed ``dsp_min_bits`` (27x18
  ports, UG579; the rule the dense layers use), two cycles; otherwise a LUT array of
  about wa*wb/2 LUTs (two partial-product bits per LUT6), one level.
- lut (transcendental functions as tables): an N-entry x W-bit ROM in LUT6s,
  N/64 LUTs per output bit (64-entry distributed ROM per LUT6), one level.

Not calibrated against Yosys (the calibration designs are dense layers); the estimate
carries a note saying so.
"""

from __future__ import annotations

import math

from hwai.estimate.cost import Coefficients, Cost
from hwai.estimate.rules import rom_luts
from hwai.estimate.rules_mult import dsp_count
from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.target import Target

# DS923 (UltraScale+ -2): a fully pipelined DSP48E2 runs at up to 741 MHz; a stage that
# holds a DSP multiply cannot be shorter than that period.
DSP_MIN_PERIOD_NS = 1000.0 / 741.0
NOTE = "expr cost from per-instruction rules (adders/DSP/ROM tables), not calibrated against Yosys"


def expr_cost(graph: Graph, node: Node, target: Target, c: Coefficients, iv: dict) -> tuple[Cost, str]:
    from hwai.ir.expr import program_types

    types = program_types(graph, node)
    program = node.attrs.program
    lut, dsp, level = 0.0, 0, [0] * len(program)
    for k, ins in enumerate(program):
        args = ins.get("args", [])
        l_k, d_k, cyc = _instruction(ins, types, args, node.attrs.tables, c)
        lut, dsp = lut + l_k, dsp + d_k
        level[k] = max([level[a] for a in args], default=0) + cyc
    depth = max([level[k] for k in node.attrs.outputs], default=0)
    ff = c.ff_per_reg_bit * sum(types[k].width for k in node.attrs.outputs)  # output register
    # one register per level: a stage is one adder/table level on the widest value
    stage = c.ns_per_level + c.ns_per_carry_bit * max(t.width for t in types)
    if dsp:
        stage = max(stage, DSP_MIN_PERIOD_NS)
    return Cost(lut, ff, dsp, 0.0, max(1, depth), 1, stage), NOTE


def _instruction(ins: dict, types: list[FixedType], args: list[int], tables, c: Coefficients) -> tuple[float, int, int]:
    op = ins["op"]
    if op in ("input", "const"):
        return 0.0, 0, 0
    if op in ("add", "sub", "neg"):
        return c.lut_per_add_bit * (max(types[a].width for a in args) + 1), 0, 1
    if op == "lut":
        return rom_luts(len(tables[ins["table"]]), ins["type"].width), 0, 1
    wa, wb = sorted(types[a].width for a in args)
    if wa > c.dsp_min_bits:
        return 0.0, dsp_count(wa, wb, c), 2
    return wa * wb / 2, 0, math.ceil(math.log2(max(wa, 2)))
