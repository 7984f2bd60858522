"""``pool``: max or average pooling with a sliding window over (L, C) or (H, W, C) tensors
(channels last, padding 'valid': Keras' ``MaxPooling1D/2D`` / ``AveragePooling1D/2D``).

Golden semantics (codes of the input type, frac F; a window of n = Π size elements):

- ``max``: pre = max over the window of x[., c], at frac F;
- ``avg``: pre = Σ over the window exactly, read at frac F + k, i.e. sum · 2^-k, for n = 2^k
  (an exact shift; a window whose size is not a power of two is refused);

then out = cast(pre, output type). hls4ml's ``pooling1d_cl``/``pooling2d_cl`` (io_parallel)
compute ``accum_t y = Σ x; y /= n`` (max: ``T y = max; return (accum_t) y``) and assign it to
``res_T``: the same value when ``accum_t`` holds the sum with F + k fraction bits, as in
:mod:`hwai.ops.global_pool`.

Attributes: ``mode`` (``max`` | ``avg``), ``pool_size`` and ``stride`` (one entry per spatial
axis), ``accum_type`` (the exact pre-cast type; filled by precision inference).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.types import FixedType, requantize
from hwai.ir.windows import out_extent
from hwai.ops.base import IntArray, Interval, Op, OpAttrs, fill_exact

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node

MODES = ("max", "avg")


@dataclass(frozen=True, eq=False)
class PoolAttrs(OpAttrs):
    mode: str
    pool_size: tuple[int, ...]
    stride: tuple[int, ...]
    accum_type: FixedType | None = None

    def __post_init__(self) -> None:
        from hwai.ir.graph import IRError
        object.__setattr__(self, "pool_size", tuple(int(k) for k in self.pool_size))
        object.__setattr__(self, "stride", tuple(int(k) for k in self.stride))
        if self.mode not in MODES:
            raise IRError(f"pool: mode {self.mode!r} is not one of {', '.join(MODES)}")
        if len(self.pool_size) not in (1, 2) or len(self.stride) != len(self.pool_size) \
                or min(self.pool_size + self.stride) < 1:
            raise IRError(f"pool: pool_size {self.pool_size} / stride {self.stride} must be 1 or 2 positive "
                          "entries each, one per spatial axis")


def window_count(attrs: PoolAttrs) -> int:
    return math.prod(attrs.pool_size)


def pool_shift(attrs: PoolAttrs) -> int:
    """k: the extra fraction bits of the pre-cast value (log2 window for avg, else 0)."""
    return window_count(attrs).bit_length() - 1 if attrs.mode == "avg" else 0


def spatial_out(attrs: PoolAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Keras' 'valid' output extent of each spatial axis: (n - k) // s + 1."""
    return out_extent(in_shape[:-1], attrs.pool_size, attrs.stride)


def windows(attrs: PoolAttrs, in_shape: tuple[int, ...]) -> np.ndarray:
    """(positions, n): the flat (row-major) spatial input index of each window element, for
    each output position in row-major order (the one window layout every backend uses)."""
    spatial = tuple(in_shape[:-1])
    out = []
    for pos in itertools.product(*(range(n) for n in spatial_out(attrs, in_shape))):
        starts = [p * s for p, s in zip(pos, attrs.stride)]
        offs = itertools.product(*(range(k) for k in attrs.pool_size))
        out.append([int(np.ravel_multi_index(tuple(a + o for a, o in zip(starts, off)), spatial)) for off in offs])
    return np.asarray(out, dtype=np.int64)


def accum_type(graph: Graph, node: Node) -> FixedType:
    """hls4ml's ``accum_t``: the window's sum (max: one input) exactly, with F + k fraction bits."""
    t = graph.tensor(node.inputs[0]).type
    n = 1 if node.attrs.mode == "max" else window_count(node.attrs)
    k = pool_shift(node.attrs)
    return type_for_range(n * t.qmin << k, n * t.qmax << k, t.frac + k)


def gather(x: np.ndarray, attrs: PoolAttrs, in_shape: tuple[int, ...]) -> np.ndarray:
    """(batch, positions, window, C) view of a (batch, *in_shape) array."""
    x = np.asarray(x).reshape(len(x), -1, in_shape[-1])
    return x[:, windows(attrs, in_shape), :]


def pre_interval(graph: Graph, node: Node, env: dict[str, Interval]) -> Interval:
    lo, hi, frac = env[node.inputs[0]]
    shape = graph.tensor(node.inputs[0]).shape
    lo, hi = (gather(np.asarray(v, dtype=object)[None], node.attrs, shape)[0] for v in (lo, hi))
    if node.attrs.mode == "max":
        return lo.max(axis=1).ravel(), hi.max(axis=1).ravel(), frac
    return lo.sum(axis=1).ravel(), hi.sum(axis=1).ravel(), frac + pool_shift(node.attrs)


class Pool(Op):
    name = "pool"
    Attrs = PoolAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def out_shape(self, attrs: PoolAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return spatial_out(attrs, in_shape) + (in_shape[-1],)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        a: PoolAttrs = node.attrs
        fits = len(x.shape) == len(a.pool_size) + 1 and all(n >= k for n, k in zip(x.shape, a.pool_size))
        if not fits or y.shape != self.out_shape(a, x.shape):
            raise IRError(f"node {node.name!r}: a pool of size {a.pool_size}, stride {a.stride} does not map "
                          f"{x.shape} to {y.shape} (spatial axes then channels, padding 'valid')")
        n = window_count(a)
        if a.mode == "avg" and n & (n - 1):
            raise IRError(f"node {node.name!r}: average pooling over a window of {n} elements needs a "
                          "power-of-two window (an exact shift); use e.g. pool size 2 or 4 (2x2)")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        g = gather(xs[0], node.attrs, graph.tensor(node.inputs[0]).shape)
        pre = g.max(axis=2) if node.attrs.mode == "max" else g.sum(axis=2)
        frac = graph.tensor(node.inputs[0]).type.frac + pool_shift(node.attrs)
        out = requantize(pre, frac, graph.tensor(node.outputs[0]).type)
        return [out.reshape((len(out),) + graph.tensor(node.outputs[0]).shape)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        return fill_exact(graph, node, env, pre_interval, accum_type)

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        lo, hi, frac = pre_interval(graph, node, env)
        shape = graph.tensor(node.outputs[0]).shape
        env[node.outputs[0]] = cast_interval((lo.reshape(shape), hi.reshape(shape), frac),
                                             graph.tensor(node.outputs[0]).type)

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """(n - 1) two-input adders (avg) or compare-and-select pairs (max, two LUT bits per bit)
        per output element, each as wide as the exact pre-cast value; one registered stage."""
        from hwai.estimate.cost import Cost
        out = graph.tensor(node.outputs[0])
        n = window_count(node.attrs)
        per_bit = 2.0 if node.attrs.mode == "max" else 1.0
        bits = node.attrs.accum_type.width
        return Cost(per_bit * bits * (n - 1) * out.size, float(out.type.width * out.size), 0, 0.0, 1, 1), \
            "adder/compare tree over each window"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.norm_context import window_pool_context
        return window_pool_context(graph, node, target, windows(node.attrs, graph.tensor(node.inputs[0]).shape),
                                   pool_shift(node.attrs))

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.norm_context import window_pool_int
        return window_pool_int(graph, node, pool_shift(node.attrs))

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_norm import window_pool_layer
        wins = windows(node.attrs, graph.tensor(node.inputs[0]).shape)
        return window_pool_layer(graph, node, xs, stages, wins, pool_shift(node.attrs))

    # --- hls4ml ---------------------------------------------------------------------
    def hls4ml_kind(self, node: Node) -> str:
        return "pool"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        """What hls4ml's Keras parser writes for a 'valid' pooling layer (``parse_pooling_layer``)."""
        a: PoolAttrs = layer.node.attrs
        x = graph.tensor(layer.node.inputs[0]).shape
        out = spatial_out(a, x)
        kind = "Max" if a.mode == "max" else "Average"
        d = {"name": layer.name, "class_name": f"{kind}Pooling{len(a.pool_size)}D", "data_format": "channels_last",
             "n_filt": int(x[-1]), "pad_left": 0, "pad_right": 0}
        if len(a.pool_size) == 1:
            return [{**d, "n_in": int(x[0]), "n_out": out[0], "pool_width": a.pool_size[0], "stride_width": a.stride[0]}]
        return [{**d, "in_height": int(x[0]), "in_width": int(x[1]), "out_height": out[0], "out_width": out[1],
                 "pool_height": a.pool_size[0], "pool_width": a.pool_size[1], "stride_height": a.stride[0],
                 "stride_width": a.stride[1], "pad_top": 0, "pad_bottom": 0}]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        return {"accum": layer.node.attrs.accum_type}

    def hls4ml_stream_blocker(self, graph: Graph, node: Node) -> str | None:
        # nnet_pooling_stream.h: pooling2d_cl asserts pool == stride (its window buffer tiles the image)
        a: PoolAttrs = node.attrs
        if len(a.pool_size) == 2 and a.pool_size != a.stride:
            return (f"hls4ml streams 2-D pooling only with stride equal to the pool size "
                    f"(pool {a.pool_size}, stride {a.stride})")
        return None

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {"accum": hls_layer.get_attr("accum_t").precision}
