"""``dense``: y = cast(acc), acc = cast(b) then acc = cast(acc + cast(x_i * w_ij)) for each
input in order — hls4ml's ``dense_latency``. Acts on the last axis of its input, so a
per-particle dense on (P, F) gives (P, N) with the same weights for every particle.

Attributes (integers are the stored ``q`` of the named type): ``weight`` (n_in, n_out),
``weight_type``, ``bias`` (n_out,), ``bias_type``, ``accum_type`` (None until
:func:`hwai.passes.precision.infer_precision` fills it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import accum_is_modular, cast_interval, type_for_range
from hwai.ir.types import INT64_SAFE_BITS, FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class DenseAttrs(OpAttrs):
    weight: np.ndarray
    weight_type: FixedType
    bias: np.ndarray
    bias_type: FixedType
    accum_type: FixedType | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", np.asarray(self.weight))
        object.__setattr__(self, "bias", np.asarray(self.bias))


class Dense(Op):
    name = "dense"
    Attrs = DenseAttrs
    reusable = True
    starts_part = True
    fast_form = fast_linear = True

    # --- IR ---------------------------------------------------------------------
    def check(self, graph: "Graph", node: "Node") -> None:
        from hwai.ir.graph import IRError

        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        w = node.attrs.weight
        if not x.shape or w.shape != (x.shape[-1], y.shape[-1] if y.shape else 1) \
                or y.shape != x.shape[:-1] + (w.shape[1],):
            raise IRError(f"node {node.name!r}: weight shape {w.shape} does not map "
                          f"input {x.shape} to output {y.shape} (dense acts on the last axis)")
        if node.attrs.bias.shape != (w.shape[1],):
            raise IRError(f"node {node.name!r}: bias shape {node.attrs.bias.shape} != ({w.shape[1]},)")

    # --- golden model -------------------------------------------------------------
    def evaluate(self, graph: "Graph", node: "Node", xs: list[IntArray]) -> list[IntArray]:
        x = xs[0]
        tx = graph.tensor(node.inputs[0]).type
        tout = graph.tensor(node.outputs[0]).type
        a: DenseAttrs = node.attrs
        w = np.asarray(a.weight, dtype=np.int64)
        b = np.asarray(a.bias, dtype=np.int64)
        tb, ta = a.bias_type, a.accum_type
        fp = tx.frac + a.weight_type.frac  # a full-precision product has fx + fw fractional bits
        if accum_is_modular(ta, fp, tb.frac):
            acc = _exact_dot(x, w, tx, a.weight_type) * (1 << (ta.frac - fp)) if ta.frac >= fp else None
            acc = acc + (b << (ta.frac - tb.frac))
            acc = requantize(acc, ta.frac, ta)  # wrap (or identity when wide enough)
        else:
            acc = _sequential_accumulate(x, w, b, fp, tb, ta)
        return [requantize(acc, ta.frac, tout)]

    def fast_step(self, graph: "Graph", node: "Node", dtype: type, fresh: bool, scale: float):
        from hwai.ir.fastpath import dense_step
        return dense_step(graph, node, dtype, fresh, scale)

    def fast_blocker(self, graph: "Graph", node: "Node", bits: int) -> str | None:
        from hwai.ir.fastpath import dense_blocker
        if len(graph.tensor(node.inputs[0]).shape) != 1:
            return "input of rank > 1: int64 reference"
        return dense_blocker(graph, node, bits)

    # --- precision ------------------------------------------------------------------
    def fill_types(self, graph: "Graph", node: "Node", env: dict[str, Interval]) -> tuple["Graph", "Node"]:
        if node.attrs.accum_type is None:
            lo, hi, frac = exact_interval(node, env)
            node = node.with_attrs(accum_type=type_for_range(int(lo.min()), int(hi.max()), frac))
            graph = graph.with_node(node)
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            graph = graph.retyped(out.name, node.attrs.accum_type.exact())
        return graph, node

    def interval(self, graph: "Graph", node: "Node", env: dict[str, Interval]) -> None:
        acc = cast_interval(exact_interval(node, env), node.attrs.accum_type)
        env[node.outputs[0]] = cast_interval(acc, graph.tensor(node.outputs[0]).type)

    # --- cost / reports -------------------------------------------------------------
    def cost(self, graph: "Graph", node: "Node", target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.rules import dense_cost
        return dense_cost(graph, node, target, c, iv)

    def weights(self, node: "Node") -> list[np.ndarray]:
        return [np.asarray(node.attrs.weight)]

    def summary(self, node: "Node") -> dict[str, Any]:
        a: DenseAttrs = node.attrs
        w = np.asarray(a.weight)
        return {"shape": list(w.shape), "weight_bits": a.weight_type.width,
                "bias_bits": a.bias_type.width, "accum_bits": a.accum_type.width,
                "weight_type": str(a.weight_type), "nonzero_weights": int(np.count_nonzero(w)),
                "sparsity": float(1.0 - np.count_nonzero(w) / w.size),
                "reuse_factor": int(node.impl.get("reuse_factor", 1))}

    def linear_map(self, node: "Node", src: np.ndarray) -> tuple[np.ndarray, bool]:
        m = src @ node.attrs.weight_type.to_float(node.attrs.weight)
        return m / max(float(np.abs(m).max(initial=0.0)), 1e-300), True  # keep the scale tame

    def neuron(self, node: "Node", j: int) -> "Node":
        """The one-output slice of neuron ``j`` (hierarchical synthesis per neuron)."""
        from dataclasses import replace
        a: DenseAttrs = node.attrs
        return replace(node, attrs=replace(a, weight=a.weight[:, j:j + 1], bias=a.bias[j:j + 1]))

    # --- emitters -------------------------------------------------------------------
    def native(self, graph: "Graph", node: "Node", target: Any) -> dict[str, Any]:
        from hwai.codegen.context import dense_context
        return dense_context(graph, node, target)

    def native_int(self, graph: "Graph", node: "Node", op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import dense_int
        return dense_int(graph, node, op_ctx)

    def verilog(self, graph: "Graph", node: "Node", xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import dense_layer
        return dense_layer(graph, node, xs, stages, style, coeffs)

    def hls4ml_kind(self, node: "Node") -> str:
        return "dense"

    def hls4ml_before_cast(self, graph: "Graph", node: "Node") -> tuple[FixedType, float]:
        t = node.attrs.accum_type
        return t, t.min_value

    def hls4ml_layer(self, graph: "Graph", layer: Any) -> Any:
        import tensorflow as tf
        return tf.keras.layers.Dense(graph.tensor(layer.tensor).size, name=layer.name)

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        a: DenseAttrs = layer.node.attrs
        return {"weight": a.weight_type, "bias": a.bias_type, "accum": a.accum_type}

    def hls4ml_config(self, layer: Any) -> dict[str, Any]:
        return {"ReuseFactor": int(layer.node.impl.get("reuse_factor", 1)), "Strategy": "Latency"}

    def hls4ml_extra_layers(self, layer: Any, result: str) -> dict[str, Any]:
        # the '<dense>_linear' activation hls4ml adds: same type, so it is eliminated
        return {f"{layer.name}_linear": {"Precision": {"result": result}}}

    def float_weights(self, node: "Node") -> tuple[np.ndarray, np.ndarray]:
        a: DenseAttrs = node.attrs
        return a.weight_type.to_float(a.weight), a.bias_type.to_float(a.bias)

    def hls4ml_set_weights(self, hls_layer: Any, layer: Any) -> None:
        w, b = self.float_weights(layer.node)
        hls_layer.weights["weight"].data = w.reshape(hls_layer.weights["weight"].data.shape)
        hls_layer.weights["bias"].data = b.reshape(hls_layer.weights["bias"].data.shape)

    def hls4ml_keras_weights(self, keras_layer: Any, layer: Any) -> None:
        keras_layer.set_weights([w.astype(np.float32) for w in self.float_weights(layer.node)])

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {"weight": hls_layer.weights["weight"].type.precision,
                "bias": hls_layer.weights["bias"].type.precision,
                "accum": hls_layer.get_attr("accum_t").precision}


def exact_interval(node: "Node", env: dict[str, Interval]) -> Interval:
    """Exact accumulator interval per output element at full precision (last axis)."""
    xlo, xhi, fx = env[node.inputs[0]]
    w = np.asarray(node.attrs.weight).astype(object)
    b = np.asarray(node.attrs.bias).astype(object)
    fw, fb = node.attrs.weight_type.frac, node.attrs.bias_type.frac
    fp = fx + fw
    fa = max(fp, fb)
    xlo, xhi = xlo.reshape(-1, w.shape[0]), xhi.reshape(-1, w.shape[0])  # rows: leading axes
    a, c = w * xlo[:, :, None], w * xhi[:, :, None]
    lo = np.minimum(a, c).sum(axis=1) * (1 << (fa - fp)) + b * (1 << (fa - fb))
    hi = np.maximum(a, c).sum(axis=1) * (1 << (fa - fp)) + b * (1 << (fa - fb))
    return lo.reshape(-1), hi.reshape(-1), fa


def _exact_dot(x: IntArray, w: IntArray, tx: FixedType, tw: FixedType) -> IntArray:
    bound = tx.width + tw.width + int(w.shape[0]).bit_length()
    if bound <= INT64_SAFE_BITS:
        return x @ w
    return x.astype(object) @ w.astype(object)


def _sequential_accumulate(x: IntArray, w: IntArray, b: IntArray, fp: int,
                           tb: FixedType, ta: FixedType) -> IntArray:
    """hls4ml's loop order with a cast after every product and every addition."""
    acc = np.broadcast_to(requantize(b, tb.frac, ta), x.shape[:-1] + (w.shape[1],)).copy()
    for i in range(w.shape[0]):
        prod = requantize(x[..., i, None] * w[i], fp, ta)
        acc = requantize(acc + prod, ta.frac, ta)
    return acc
