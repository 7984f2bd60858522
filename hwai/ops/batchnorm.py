"""``batchnorm``: a standalone (unfolded) inference-mode batch normalization,
y = cast(x * scale[c] + shift[c]) with c the channel (last axis) of each element.

A BatchNormalization right after a linear layer is folded into that layer's float weights by
the frontend (:func:`hwai.frontends.keras_layers.fold_scale_shift`); this op is the rest (after
an activation, on an input, after a quantized layer whose weights must stay on their grid).

Golden semantics (codes): pre = x * s_c · 2^(fs - fx - fsc) + b_c · 2^(fs - fb) exactly, at
fs = max(fx + fsc, fb) fraction bits, then out = cast(pre, output type). This is hls4ml's
``nnet::normalize``: ``res = product(x, scale) + bias`` (``decltype(x * s)``, an exact ap_fixed
product, plus an exact ap_fixed sum) assigned to ``res_T`` — one cast.

Attributes (integers are the stored codes of the named type): ``scale`` (C,), ``scale_type``,
``shift`` (C,), ``shift_type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, signed_bits, type_for_range
from hwai.ir.types import INT64_SAFE_BITS, FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class BatchNormAttrs(OpAttrs):
    scale: np.ndarray
    scale_type: FixedType
    shift: np.ndarray
    shift_type: FixedType

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=np.int64))
        object.__setattr__(self, "shift", np.asarray(self.shift, dtype=np.int64))


def pre_frac(graph: Graph, node: Node) -> int:
    """fs: the fraction bits of the exact pre-cast value x * scale + shift."""
    a: BatchNormAttrs = node.attrs
    return max(graph.tensor(node.inputs[0]).type.frac + a.scale_type.frac, a.shift_type.frac)


def aligned(graph: Graph, node: Node) -> tuple[np.ndarray, np.ndarray, int]:
    """(scale codes, shift codes) both moved onto fs (Python ints), and fs: then
    pre = x * scale' + shift' in codes of fs fraction bits."""
    a: BatchNormAttrs = node.attrs
    fs = pre_frac(graph, node)
    sx = fs - graph.tensor(node.inputs[0]).type.frac - a.scale_type.frac
    return (np.array([int(v) << sx for v in a.scale], dtype=object),
            np.array([int(v) << (fs - a.shift_type.frac) for v in a.shift], dtype=object), fs)


def exact_type(graph: Graph, node: Node, env: dict[str, Interval]) -> FixedType:
    """The type holding every pre-cast value exactly (hls4ml's ``decltype(x * s) + b``)."""
    lo, hi, fs = pre_interval(graph, node, env)
    return type_for_range(int(lo.min()), int(hi.max()), fs)


def pre_interval(graph: Graph, node: Node, env: dict[str, Interval]) -> Interval:
    lo, hi, _ = env[node.inputs[0]]
    s, b, fs = aligned(graph, node)
    c = len(s)
    lo, hi = (np.asarray(v, dtype=object).reshape(-1, c) for v in (lo, hi))
    p, q = lo * s, hi * s
    return (np.minimum(p, q) + b).ravel(), (np.maximum(p, q) + b).ravel(), fs


class BatchNorm(Op):
    name = "batchnorm"
    Attrs = BatchNormAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})   # per element, channel = last axis

    def out_shape(self, attrs: BatchNormAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        a: BatchNormAttrs = node.attrs
        if not x.shape or y.shape != x.shape or a.scale.shape != (x.shape[-1],) or a.shift.shape != a.scale.shape:
            raise IRError(f"node {node.name!r}: batchnorm scale {a.scale.shape} / shift {a.shift.shape} "
                          f"do not match the channels (last axis) of {x.shape} -> {y.shape}")
        if not (a.scale_type.contains(a.scale) and a.shift_type.contains(a.shift)):
            raise IRError(f"node {node.name!r}: batchnorm scale/shift codes outside {a.scale_type} / {a.shift_type}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        s, b, fs = aligned(graph, node)
        x = np.asarray(xs[0])
        tx = graph.tensor(node.inputs[0]).type
        wide = tx.width + max(int(v).bit_length() for v in [*s, *b, 1]) + 2 > INT64_SAFE_BITS
        dt = object if wide else np.int64   # Python ints only where int64 could overflow
        pre = x.astype(dt) * s.astype(dt) + b.astype(dt)
        return [requantize(pre, fs, graph.tensor(node.outputs[0]).type)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            graph = graph.retyped(out.name, exact_type(graph, node, env))
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        lo, hi, fs = pre_interval(graph, node, env)
        shape = np.shape(env[node.inputs[0]][0])
        iv = (lo.reshape(shape), hi.reshape(shape), fs)
        env[node.outputs[0]] = cast_interval(iv, graph.tensor(node.outputs[0]).type)

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool]:
        """Corner vectors follow the per-channel scale; its cast gets corners of its own."""
        s = node.attrs.scale_type.to_float(node.attrs.scale)
        m = (src.reshape(len(src), -1, len(s)) * s).reshape(len(src), -1)
        return m / max(float(np.abs(m).max(initial=0.0)), 1e-300), True

    def weights(self, node: Node) -> list[np.ndarray]:
        return [np.asarray(node.attrs.scale)]

    def weight_values(self, node: Node) -> list[tuple[FixedType, np.ndarray]]:
        a: BatchNormAttrs = node.attrs
        return [(a.scale_type, a.scale_type.to_float(a.scale)), (a.shift_type, a.shift_type.to_float(a.shift))]

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        return _cost(graph, node, target, c, iv)

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.norm_context import batchnorm_context
        return batchnorm_context(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.norm_context import batchnorm_int
        s, b, fs = aligned(graph, node)
        return batchnorm_int(graph, node, list(s), list(b), fs)

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_norm import batchnorm_layer
        _, b, fs = aligned(graph, node)
        return batchnorm_layer(graph, node, xs, stages, style, coeffs, list(b), fs)

    # --- hls4ml ---------------------------------------------------------------------
    def hls4ml_kind(self, node: Node) -> str:
        return "batchnorm"

    def hls4ml_before_cast(self, graph: Graph, node: Node) -> tuple[FixedType, float] | None:
        from hwai.passes.precision import intervals
        t = exact_type(graph, node, intervals(graph))
        return t, t.min_value

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        """What hls4ml's Keras parser writes (``parse_batchnorm_layer``), with the exact
        float64 scale and bias given directly (``scale_data``/``bias_data``: no re-folding)."""
        a: BatchNormAttrs = layer.node.attrs
        x = graph.tensor(layer.node.inputs[0])
        return [{"name": layer.name, "class_name": "BatchNormalization", "data_format": "channels_last",
                 "n_in": x.size, "n_out": x.size, "n_filt": -1 if len(x.shape) == 1 else int(x.shape[-1]),
                 "use_gamma": True, "use_beta": True,
                 "scale_data": a.scale_type.to_float(a.scale), "bias_data": a.shift_type.to_float(a.shift)}]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        return {"scale": layer.node.attrs.scale_type, "bias": layer.node.attrs.shift_type}

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {"scale": hls_layer.weights["scale"].type.precision,
                "bias": hls_layer.weights["bias"].type.precision}


def _cost(graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
    """Each element is a one-input dense neuron (CSD or DSP product x * scale_c plus the shift
    constant), priced by the dense rules (:mod:`hwai.estimate.tree`): LUT = a * Σ adder bits +
    b * cast bits; DSP per :func:`hwai.estimate.rules_mult.mult_kind`; FF = c * output bits."""
    from hwai.estimate.cost import Cost
    from hwai.estimate.rules import cast_bits, levels_delay_ns, levels_to_cycles
    from hwai.estimate.tree import neuron_leaves, tree_cost

    tx, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    a = node.attrs
    s, b, fs = aligned(graph, node)
    sh = fs - tx.frac - a.scale_type.frac
    x_lo, x_hi = (np.ravel(v) for v in iv[node.inputs[0]][:2])
    trees = []
    for i, (lo, hi) in enumerate(zip(x_lo, x_hi)):
        ch = i % len(s)
        leaves, dsp = neuron_leaves([lo], [hi], [int(a.scale[ch])], int(b[ch]), sh, tx.width, c)
        trees.append(tree_cost(leaves, dsp))
    width = max((signed_bits(t.lo, t.hi) for t in trees), default=1)
    pre = FixedType(width, width - fs, True)
    out_cast = cast_bits(pre, tout) * len(trees)
    lut = c.lut_per_add_bit * c.add_width_frac * sum(t.adder_bits for t in trees) + c.lut_per_cast_bit * out_cast
    levels = max(max((t.depth for t in trees), default=0) + int(out_cast > 0), 1)
    cycles = levels_to_cycles(levels, width, target, c)
    ff = c.ff_per_reg_bit * tout.width * len(trees) * cycles
    return (Cost(lut, ff, sum(t.dsp for t in trees), 0.0, cycles, 1, levels_delay_ns(levels / cycles, width, c)),
            "per-element constant multiply (CSD) + shift, one output cast")
