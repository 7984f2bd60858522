"""Verilog of ``sum_squares``: one signed multiply per element (``x * x``, a wire as wide as
the square's exact interval, so the truncated product is the exact one) and a balanced adder
tree (:func:`hwai.codegen.verilog_context.build_tree`), then the output cast and register."""

from __future__ import annotations

from hwai.codegen.verilog_context import Layer, Sig, _register, add_cast, build_tree, cast_interval, ident
from hwai.ir.graph import Graph, Node
from hwai.ir.numeric import signed_bits
from hwai.ir.squares import square_interval


def sum_squares_layer(g: Graph, node: Node, xs: list[Sig], stages: int) -> tuple[Layer, list[Sig]]:
    tout = g.tensor(node.outputs[0]).type
    layer, pre = Layer(ident(node.name), "sum_squares", stages=stages), ident(node.name)
    leaves = []
    for x in xs:
        lo, hi = (int(v) for v in square_interval(x.lo, x.hi))
        leaves.append((Sig("", signed_bits(lo, hi), lo, hi, 2 * x.frac), False, f"{x.name} * {x.name}"))
    acc = build_tree(layer, pre, leaves, 0, 2 * xs[0].frac, stages)
    out = add_cast(layer, acc, tout, f"{pre}_o", *cast_interval(acc, tout))
    return layer, [_register(layer, out, f"{ident(node.outputs[0])}_0")]
