"""``expr``: symbolic expressions as one integer-exact instruction program.

The program's semantics, intervals and checks live in :mod:`hwai.ir.expr` (written
with the symbolic-regression step); this module registers them as an op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir import expr as program
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class ExprAttrs(OpAttrs):
    program: list[dict[str, Any]]
    tables: list[np.ndarray]
    outputs: list[int]
    expressions: list[str] = field(default_factory=list)   # source text, for humans/hls4ml SR


class Expr(Op):
    name = "expr"
    Attrs = ExprAttrs
    hls4ml_symbolic = True

    def out_shape(self, attrs: ExprAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (len(attrs.outputs),)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError

        y = graph.tensor(node.outputs[0])
        if len(y.shape) != 1 or len(node.attrs.outputs) != y.size:
            raise IRError(f"node {node.name!r}: {len(node.attrs.outputs)} expression outputs "
                          f"for output shape {y.shape}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        return program.evaluate_node(graph, node, xs)

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        program.interval_node(graph, node, env)

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.rules_expr import expr_cost
        return expr_cost(graph, node, target, c, iv)

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        try:
            from hwai.codegen.expr_context import expr_context
        except ImportError as err:
            from hwai.errors import HwaiError
            raise HwaiError(f"node {node.name!r}: op 'expr' needs hwai.codegen.expr_context "
                            f"(symbolic-regression code generation), which failed to import: {err}") from None
        return expr_context(graph, node, target)

    def hls4ml_kind(self, node: Node) -> str:
        from hwai.errors import UnsupportedLayerError
        raise UnsupportedLayerError(f"node {node.name!r}: expr nodes are emitted by hwai's "
                                    "native HLS core, not through hls4ml")
