"""``quant``: out = cast(x), a linear quantizer (rounding/overflow of the output type)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwai.ir.numeric import cast_interval
from hwai.ir.types import requantize
from hwai.ops.base import IntArray, Interval
from hwai.ops.cast import Elementwise

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


class Quant(Elementwise):
    name = "quant"
    cast_only = True
    fast_form = fast_cast = True

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        tx = graph.tensor(node.inputs[0]).type
        return [requantize(xs[0], tx.frac, graph.tensor(node.outputs[0]).type)]

    def fast_step(self, graph: Graph, node: Node, dtype: type, fresh: bool, scale: float):
        from hwai.ir.fastpath import elementwise_step
        return elementwise_step(graph, node, dtype, fresh, scale)

    def fast_blocker(self, graph: Graph, node: Node, bits: int) -> str | None:
        from hwai.ir.fastpath import elementwise_blocker
        return elementwise_blocker(graph, node, bits)

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        from hwai.ir.graph import IRError
        if graph.tensor(node.outputs[0]).type is None:
            raise IRError(f"node {node.name!r}: a quantizer needs an explicit output type")
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = cast_interval(env[node.inputs[0]], graph.tensor(node.outputs[0]).type)


    def hls4ml_kind(self, node: Node) -> str:
        return "linear"
