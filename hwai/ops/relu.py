"""``relu``: out = cast(max(x, 0))."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval
from hwai.ops.cast import Elementwise

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


class Relu(Elementwise):
    name = "relu"
    zero_below = True
    rowwise = True
    cast_only = True
    fast_form = fast_cast = True

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        tx = graph.tensor(node.inputs[0]).type
        return [requantize(np.maximum(xs[0], 0), tx.frac, graph.tensor(node.outputs[0]).type)]

    def fast_step(self, graph: Graph, node: Node, dtype: type, fresh: bool, scale: float):
        from hwai.ir.fastpath import elementwise_step
        return elementwise_step(graph, node, dtype, fresh, scale)

    def fast_blocker(self, graph: Graph, node: Node, bits: int) -> str | None:
        from hwai.ir.fastpath import elementwise_blocker
        return elementwise_blocker(graph, node, bits)

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            lo, hi, frac = env[node.inputs[0]]
            graph = graph.retyped(out.name, type_for_range(0, max(int(hi.max()), 0), frac, force_signed=False))
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        lo, hi, frac = env[node.inputs[0]]
        iv = (np.maximum(lo, 0), np.maximum(hi, 0), frac)
        env[node.outputs[0]] = cast_interval(iv, graph.tensor(node.outputs[0]).type)

    def gate_bits(self, graph: Graph, node: Node) -> float:
        # sign-gating of each bit; LUT6_2 packs two gated bits per LUT
        return graph.tensor(node.outputs[0]).type.width / 2


    def verilog_pre(self, layer: Any, x: Any, i: int) -> Any:
        from hwai.codegen.verilog_context import Sig
        src = Sig(f"{layer.name}_m{i}", x.width, max(x.lo, 0), max(x.hi, 0), x.frac)
        layer.body.append({"kind": "wire", "name": src.name, "width": x.width,
                           "expr": f"{x.name}[{x.width - 1}] ? {x.width}'sd0 : {x.name}"})
        return src

    def hls4ml_kind(self, node: Node) -> str:
        return "relu"

    def hls4ml_before_cast(self, graph: Graph, node: Node) -> tuple[FixedType, float]:
        t = graph.tensor(node.inputs[0]).type
        return t, min(t.min_value, 0.0)
