"""``sum_squares``: the anomaly score ``s = Σ_i x_i²`` of a latent vector (AXOL1TL-style
``Σ mu²`` of a variational encoder), one output.

Golden semantics (input codes ``q_i`` of the input type, frac F): each square ``q_i²`` is
exact at frac 2F, the sum ``S = Σ q_i²`` is exact in ``accum_type`` (unsigned, frac 2F, wide
enough for any input of the input type), then ``out = cast(S, output type)``. In C++ that is
``acc_t acc = 0; acc += x[i] * x[i]; y = acc;`` (an ap_fixed product is exact; the sum cannot
overflow ``acc_t``), so every backend computes the same integers.

hls4ml has no such layer: it gets a Merge(multiply) of the latent with itself and a Dense of
ones whose accumulator is ``accum_type`` (the same integers; see the hls4ml hooks below).

The symbolic ``expr`` op could spell Σ x_i² too, but it has no Verilog and no integer C-sim
flavour; this op is one multiply per element and one adder tree on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.squares import square_interval
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs, fill_exact

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class SumSquaresAttrs(OpAttrs):
    accum_type: FixedType | None = None   # the exact type of Σ q_i² (infer_precision fills it)


def accum_type(graph: Graph, node: Node) -> FixedType:
    """Unsigned, frac 2F: holds n · max(qmin², qmax²) for any input of the input type."""
    x = graph.tensor(node.inputs[0])
    t = x.type
    return type_for_range(0, x.size * max(t.qmin ** 2, t.qmax ** 2), 2 * t.frac)


def pre_interval(env: dict[str, Interval], node: Node) -> Interval:
    lo, hi, frac = env[node.inputs[0]]
    s_lo, s_hi = square_interval(np.asarray(lo, dtype=object).ravel(), np.asarray(hi, dtype=object).ravel())
    return np.array([s_lo.sum()], dtype=object), np.array([s_hi.sum()], dtype=object), 2 * frac


class SumSquares(Op):
    name = "sum_squares"
    Attrs = SumSquaresAttrs

    def out_shape(self, attrs: SumSquaresAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (1,)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        if len(x.shape) != 1 or y.shape != (1,):
            raise IRError(f"node {node.name!r}: sum_squares maps a vector (n,) to (1,), not {x.shape} to {y.shape}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        wide = node.attrs.accum_type is None or node.attrs.accum_type.width > 62
        x = np.asarray(xs[0]).reshape(len(xs[0]), -1).astype(object if wide else np.int64)  # Python ints past 62 bits
        pre = (x * x).sum(axis=1, keepdims=True)
        frac = 2 * graph.tensor(node.inputs[0]).type.frac
        out = requantize(pre, frac, graph.tensor(node.outputs[0]).type)
        return [np.asarray(out, dtype=np.int64)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        return fill_exact(graph, node, env, lambda g, n, e: pre_interval(e, n), accum_type)

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = cast_interval(pre_interval(env, node), graph.tensor(node.outputs[0]).type)

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.sum_squares import sum_squares_cost
        return sum_squares_cost(graph, node, target, c)

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.context import elementwise_context
        from hwai.codegen.hlstypes import hls_type
        ta = node.attrs.accum_type
        return {**elementwise_context(graph, node, target), "acc_t": hls_type(ta), "acc_desc": str(ta)}

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import _check_bits, int_cast
        _check_bits(node, node.attrs.accum_type.width + 1, "sum of squares")
        return {"kind": "sum_squares", "cast": int_cast(2 * graph.tensor(node.inputs[0]).type.frac,
                                                        graph.tensor(node.outputs[0]).type)}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_sum_squares import sum_squares_layer
        return sum_squares_layer(graph, node, xs, stages)

    # --- hls4ml: no sum-of-squares layer there, so two of its own layers compute it exactly:
    # Merge(multiply) of the latent with itself (nnet_merge.h: res = x1 * x2, an exact product
    # cast into the square's exact type) and a Dense of ones (nnet_dense_latency.h: products in
    # accum_t, acc = bias 0, acc += each, res = (res_T) acc) whose accum_t is this op's accum_type:
    # the golden model's Σ q_i² at frac 2F, then one cast into the output type.
    def hls4ml_kind(self, node: Node) -> str:
        return "sum_squares"

    def _squares_name(self, layer: Any) -> str:
        return f"{layer.name}_squares"

    def hls4ml_input_layers(self, names: list[str]) -> list[str]:
        return [names[0], names[0]]

    def hls4ml_inner_layers(self, graph: Graph, layer: Any) -> dict[str, FixedType]:
        return {self._squares_name(layer): squares_type(graph, layer.node)}

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.hls4ml_layers import dense_dicts

        n = graph.tensor(layer.node.inputs[0]).size
        squares = {"name": self._squares_name(layer), "class_name": "Merge", "op": "multiply",
                   "data_format": "channels_last"}
        return [squares, *dense_dicts(layer.name, np.ones((n, 1)), np.zeros(1))]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        from hwai.codegen.hls4ml_layers import ONE
        return {"weight": ONE, "bias": ONE, "accum": layer.node.attrs.accum_type}

    def hls4ml_config(self, layer: Any) -> dict[str, Any]:
        return {"ReuseFactor": 1, "Strategy": "Latency"}

    def hls4ml_extra_layers(self, layer: Any, result: str) -> dict[str, Any]:
        from hwai.codegen.hls4ml_layers import linear_config
        return linear_config(layer.name, result)

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        from hwai.codegen.hls4ml_layers import dense_types
        return dense_types(hls_layer)

    def hls4ml_stream_blocker(self, graph: Graph, node: Node) -> str | None:
        return ("hls4ml's io_stream Merge would read the latent's stream twice (sum of squares = "
                "Merge(multiply) of the latent with itself)")



def squares_type(graph: Graph, node: Node) -> FixedType:
    """The exact type of every square q_i² (unsigned, frac 2F)."""
    t = graph.tensor(node.inputs[0]).type
    return type_for_range(0, max(t.qmin ** 2, t.qmax ** 2), 2 * t.frac)
