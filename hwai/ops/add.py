"""``add``: the elementwise sum of two or more tensors of one shape (Keras ``Add``).

Golden semantics (input k has codes x_k at its own fraction f_k; F = max_k f_k):

    pre = Σ_k x_k · 2^(F - f_k)     exact, at fraction F (every input aligned on the finest grid)
    out = cast(pre, output type)

Precision inference gives the output the exact type of the sum's interval, so the cast is
then a no-op. Every backend computes the same: ap_fixed ``x0 + x1`` is exact (its result
type grows to hold the sum, hls4ml's ``nnet::add`` assigns that to ``res_T``), the integer
flavour shifts each code onto fraction F and sums in int64, the Verilog adds the aligned
signals in a wire as wide as the exact interval and casts with ``hwai_cast``.
hls4ml's ``Merge`` takes exactly two inputs; a wider add is refused there in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, signed_bits, type_for_range
from hwai.ir.types import requantize
from hwai.ops.base import IntArray, Interval, Op, fill_exact

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


def common_frac(graph: Graph, node: Node) -> int:
    """F: the finest input fraction, where the sum is exact."""
    return max(graph.tensor(t).type.frac for t in node.inputs)


def shifts(graph: Graph, node: Node) -> list[int]:
    """Left shift of each input's codes onto fraction F."""
    f = common_frac(graph, node)
    return [f - graph.tensor(t).type.frac for t in node.inputs]


def pre_interval(graph: Graph, node: Node, env: dict[str, Interval]) -> Interval:
    """Per-element interval of the exact sum at fraction F."""
    f = common_frac(graph, node)
    lo = hi = 0
    for t in node.inputs:
        a, b, frac = env[t]
        lo = lo + np.asarray(a, dtype=object) * (1 << (f - frac))
        hi = hi + np.asarray(b, dtype=object) * (1 << (f - frac))
    return lo, hi, f


class Add(Op):
    name = "add"
    # element i of every (row-major flattened) input adds to element i: shapes only need to agree
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def out_shape(self, attrs: Any, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        shapes = [graph.tensor(t).shape for t in (*node.inputs, *node.outputs)]
        if len(node.inputs) < 2 or len(set(shapes)) != 1:
            raise IRError(f"node {node.name!r}: add needs two or more inputs of the output's shape, "
                          f"got {shapes[:-1]} -> {shapes[-1]}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        wide = max(graph.tensor(t).type.width + s for t, s in zip(node.inputs, shifts(graph, node)))
        dtype = np.int64 if wide + len(xs) < 63 else object   # int64 holds the exact sum
        acc = sum(np.asarray(x).astype(dtype) * (1 << s) for x, s in zip(xs, shifts(graph, node)))
        return [requantize(acc, common_frac(graph, node), graph.tensor(node.outputs[0]).type)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        self.check(graph, node)   # shapes first: the interval rule indexes by them
        return fill_exact(graph, node, env, pre_interval)

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = cast_interval(pre_interval(graph, node, env), graph.tensor(node.outputs[0]).type)

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool] | None:
        return None   # corner vectors: the map of one input says nothing about the sum

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """(K - 1) two-input adders per element, each as wide as the exact sum (carry chain,
        ``lut_per_add_bit``), plus the output cast; combinational like the cast ops."""
        from hwai.estimate.cost import Cost
        from hwai.estimate.rules import cast_bits
        lo, hi, frac = pre_interval(graph, node, iv)
        out = graph.tensor(node.outputs[0])
        bits = signed_bits(int(lo.min()), int(hi.max()))
        pre = type_for_range(int(lo.min()), int(hi.max()), frac)
        lut = c.lut_per_add_bit * bits * (len(node.inputs) - 1) + c.lut_per_cast_bit * cast_bits(pre, out.type)
        return Cost(lut * out.size, 0.0, 0, 0.0, 0, 1), "adder per element"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.merge_context import add_context
        return add_context(graph, node, target, shifts(graph, node))

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.merge_context import add_int
        return add_int(graph, node, common_frac(graph, node))

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.merge_context import add_layer
        return add_layer(graph, node, xs, shifts(graph, node))

    def hls4ml_kind(self, node: Node) -> str:
        return "merge"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.merge_context import merge_dict
        return [merge_dict(graph, layer, "Merge", op="add")]
