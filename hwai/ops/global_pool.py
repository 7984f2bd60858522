"""``global_pool``: pool a (P, C) tensor over its first (particle) axis into (C,), or an
(H, W, C) tensor over both spatial axes (P = H·W positions: Keras' GlobalPooling2D).

Golden semantics (codes of the input type, frac F; P particles):

- ``sum``: pre = Σ_p x[p, c] exactly, at frac F;
- ``avg``: the same exact sum read at frac F + k, i.e. sum · 2^-k, for P = 2^k (an exact
  shift: no rounding before the output cast). P not a power of two is refused;
- ``max``: pre = max_p x[p, c] at frac F;

then out = cast(pre, output type). hls4ml's ``GlobalAveragePooling1D`` (``nnet::avg``: ``accum_t
y = Σ x; y /= N``) equals it when ``accum_t`` has the sum's integer bits and F + k fraction bits:
the division is then exact and the result cast is the same cast.

hls4ml has no global sum pooling layer: ``sum`` becomes a ``Reshape`` flattening the input to
(P·C,) and a ``Dense`` (P·C -> C) whose weights are P stacked identity matrices (0/1, bias 0)
and whose ``accum_t`` is ``accum_type`` (nnet_dense_latency.h: each x·1 and the sum exact in
``accum_t``, then one cast into the output type): the golden sum, in any order. That Dense is
what a Conv1D whose kernel spans the P particles computes on its one window; a Conv would end
in a (1, C) output needing a Reshape after it, which hls4ml drops when it is the model's last
layer (``RemoveFinalReshape``), so the Dense, whose output is (C,), ends the op. HLS folds the
multiplications by constant 0/1: what is left is one P-input adder tree per channel.

Attributes: ``mode`` (``sum`` | ``avg`` | ``max``); ``accum_type``, the exact type of the pre-cast
value for any input of the input type (filled by precision inference; hls4ml's ``accum_t``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs, fill_exact

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node

MODES = ("sum", "avg", "max")


@dataclass(frozen=True, eq=False)
class GlobalPoolAttrs(OpAttrs):
    mode: str
    accum_type: FixedType | None = None   # the exact pre-cast type (infer_precision fills it)

    def __post_init__(self) -> None:
        from hwai.ir.graph import IRError
        if self.mode not in MODES:
            raise IRError(f"global_pool: mode {self.mode!r} is not one of {', '.join(MODES)}")


def pooled_rows(graph: Graph, node: Node) -> int:
    """P: the positions pooled into each channel (every axis but the last)."""
    return int(np.prod(graph.tensor(node.inputs[0]).shape[:-1]))


def pool_shift(graph: Graph, node: Node) -> int:
    """k: the extra fraction bits of the pre-cast value (log2 P for avg, else 0)."""
    p = pooled_rows(graph, node)
    return int(p).bit_length() - 1 if node.attrs.mode == "avg" else 0


def accum_type(graph: Graph, node: Node) -> FixedType:
    """hls4ml's ``accum_t``: holds the sum (max: one input) of any input codes exactly, with
    F + k fraction bits so that its ``y /= P`` is exact (k = log2 P for avg, else 0)."""
    t = graph.tensor(node.inputs[0]).type
    n = 1 if node.attrs.mode == "max" else pooled_rows(graph, node)
    k = pool_shift(graph, node)
    return type_for_range(n * t.qmin << k, n * t.qmax << k, t.frac + k)


def pre_interval(graph: Graph, node: Node, env: dict[str, Interval]) -> Interval:
    lo, hi, frac = env[node.inputs[0]]
    c = graph.tensor(node.outputs[0]).shape[0]
    lo, hi = (np.asarray(v, dtype=object).reshape(-1, c) for v in (lo, hi))
    if node.attrs.mode == "max":
        return lo.max(axis=0), hi.max(axis=0), frac
    return lo.sum(axis=0), hi.sum(axis=0), frac + pool_shift(graph, node)


class GlobalPool(Op):
    name = "global_pool"
    Attrs = GlobalPoolAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def out_shape(self, attrs: GlobalPoolAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape[-1:])

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        if len(x.shape) not in (2, 3) or y.shape != self.out_shape(node.attrs, x.shape):
            raise IRError(f"node {node.name!r}: global_pool maps (P, C) or (H, W, C) to (C,), "
                          f"not {x.shape} to {y.shape}")
        p = pooled_rows(graph, node)
        if node.attrs.mode == "avg" and p & (p - 1):
            raise IRError(f"node {node.name!r}: average pooling over {p} particles needs a power-of-two count "
                          "(an exact shift); pad the set to the next power of two or use mode sum")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        x = np.asarray(xs[0])
        x = x.reshape(len(x), pooled_rows(graph, node), -1)
        pre = x.max(axis=1) if node.attrs.mode == "max" else x.sum(axis=1)
        frac = graph.tensor(node.inputs[0]).type.frac + pool_shift(graph, node)
        return [requantize(pre, frac, graph.tensor(node.outputs[0]).type)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        return fill_exact(graph, node, env, pre_interval, accum_type)

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = cast_interval(pre_interval(graph, node, env), graph.tensor(node.outputs[0]).type)

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool] | None:
        # corner vectors stop here: max is not linear, and the particle count is not in the node
        return None

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """(P - 1) two-input adders (sum/avg) or compare-and-select pairs (max, two LUT bits per
        bit: carry-chain compare + mux) per channel, each as wide as the exact pre-cast value;
        one registered stage as in the Verilog emitter."""
        from hwai.estimate.cost import Cost
        p, ch = pooled_rows(graph, node), graph.tensor(node.inputs[0]).shape[-1]
        bits = node.attrs.accum_type.width
        per_bit = 2.0 if node.attrs.mode == "max" else 1.0
        out = graph.tensor(node.outputs[0])
        return Cost(per_bit * bits * (p - 1) * ch, float(out.type.width * ch), 0, 0.0, 1, 1), \
            "adder/compare tree over the particles"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.context import pool_context
        return pool_context(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import int_cast
        tin = graph.tensor(node.inputs[0]).type
        return {"kind": "pool", "cast": int_cast(tin.frac + pool_shift(graph, node), graph.tensor(node.outputs[0]).type)}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import pool_layer
        return pool_layer(graph, node, xs, stages)

    def hls4ml_kind(self, node: Node) -> str:
        return "global_pool"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        mode = layer.node.attrs.mode
        if mode == "sum":
            return self._sum_dicts(graph, layer)
        shape = graph.tensor(layer.node.inputs[0]).shape
        kind = "Max" if mode == "max" else "Average"
        d = {"name": layer.name, "data_format": "channels_last", "keepdims": False, "n_filt": int(shape[-1])}
        if len(shape) == 3:   # hls4ml's global_pooling2d_cl: the same accum_t rule over H·W
            return [{**d, "class_name": f"Global{kind}Pooling2D", "in_height": int(shape[0]), "in_width": int(shape[1])}]
        return [{**d, "class_name": f"Global{kind}Pooling1D", "n_in": int(shape[0])}]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        if layer.node.attrs.mode == "sum":
            from hwai.codegen.hls4ml_layers import ONE
            return {"weight": ONE, "bias": ONE, "accum": layer.node.attrs.accum_type}
        return {"accum": layer.node.attrs.accum_type}

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        if layer.node.attrs.mode == "sum":
            from hwai.codegen.hls4ml_layers import dense_types
            return dense_types(hls_layer)
        return {"accum": hls_layer.get_attr("accum_t").precision}

    # --- hls4ml, mode sum: Reshape to (P·C,) + Dense of stacked identities (module docstring)
    def _flat_name(self, layer: Any) -> str:
        return f"{layer.name}_flat"

    def hls4ml_inner_layers(self, graph: Graph, layer: Any) -> dict[str, FixedType]:
        # the Reshape only moves codes: its result is the pooled tensor's type
        if layer.node.attrs.mode != "sum":
            return {}
        return {self._flat_name(layer): graph.tensor(layer.node.inputs[0]).type}

    def _sum_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.hls4ml_layers import dense_dicts

        p, c = pooled_rows(graph, layer.node), int(graph.tensor(layer.node.inputs[0]).shape[-1])
        flat = {"name": self._flat_name(layer), "class_name": "Reshape", "data_format": "channels_last",
                "target_shape": [p * c]}
        # row-major, channels last: flat element p·C + c feeds output c
        return [flat, *dense_dicts(layer.name, np.tile(np.eye(c), (p, 1)), np.zeros(c))]

    def hls4ml_config(self, layer: Any) -> dict[str, Any]:
        return {"ReuseFactor": 1, "Strategy": "Latency"} if layer.node.attrs.mode == "sum" else {}

    def hls4ml_extra_layers(self, layer: Any, result: str) -> dict[str, Any]:
        # the '<name>_linear' activation hls4ml's Dense carries: same type, so it is eliminated
        if layer.node.attrs.mode != "sum":
            return {}
        from hwai.codegen.hls4ml_layers import linear_config
        return linear_config(layer.name, result)
