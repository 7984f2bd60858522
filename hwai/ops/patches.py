"""``patches``: the windows of a convolution, laid out as rows (im2col). Wiring only.

A convolution is a dense layer applied to every window of its input, so hwai builds
``Conv1D``/``Conv2D`` as two IR nodes: ``patches`` (this op) gathers, for every output
position, the kernel window of the (zero-padded) input into one row, and the existing
per-row ``dense`` maps each row to the filters. The reasons for this split rather than a
``conv`` op of its own: the dense layer's exact arithmetic (hls4ml ``dense_latency``
order, wrapping/saturating accumulators), its heterogeneous per-weight types, its
CSD/DA multipliers, its cost rule (one multiplier set per output position in a fully
unrolled design, ``impl.reuse_factor`` honoured) and every emitter carry over unchanged;
this op adds only index wiring, which costs no logic in hardware. hls4ml's own
``conv_1d_latency_cl``/``conv_2d_latency_cl`` are the same dense on the same windows
(``mult = cast(x*w)``, ``acc = cast(b)``, ``acc += mult`` in (kernel position, channel)
order), so the bridge hands the pair to hls4ml as one ``Conv1D``/``Conv2D``.

Shapes (channels last, row-major): (L, C) -> (L', K*C), (H, W, C) -> (H', W', kh*kw*C);
a row holds the window in (kernel offset..., channel) order, the order of a Keras kernel
(K..., C, F) reshaped to (K*C, F). L' = (L + pad_before + pad_after - K) // stride + 1.
Padding positions read the code 0 (exact in every type).

Attributes: ``kernel``, ``strides``, ``pad_before``, ``pad_after`` (one entry per spatial axis) and
``in_shape`` (the input tensor's shape, checked against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval
from hwai.ir.windows import out_extent
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class PatchesAttrs(OpAttrs):
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]
    in_shape: tuple[int, ...]       # the input tensor's shape (checked): the corner-vector map needs it

    def __post_init__(self) -> None:
        from hwai.ir.graph import IRError
        for k in ("kernel", "strides", "pad_before", "pad_after", "in_shape"):   # saved graphs give lists
            object.__setattr__(self, k, tuple(int(v) for v in getattr(self, k)))
        n = len(self.kernel)
        if not 1 <= n <= 2 or any(len(getattr(self, k)) != n for k in ("strides", "pad_before", "pad_after")):
            raise IRError(f"patches: kernel {self.kernel}, strides {self.strides}, padding {self.pad_before}/"
                          f"{self.pad_after} need one entry each per spatial axis (1 or 2)")
        if min(self.kernel + self.strides) < 1 or min(self.pad_before + self.pad_after) < 0:
            raise IRError(f"patches: kernel {self.kernel} and strides {self.strides} must be >= 1, padding >= 0")


def out_spatial(attrs: PatchesAttrs, spatial: tuple[int, ...]) -> tuple[int, ...]:
    return out_extent(spatial, attrs.kernel, attrs.strides, attrs.pad_before, attrs.pad_after)


def patch_index(attrs: PatchesAttrs, in_shape: tuple[int, ...]) -> np.ndarray:
    """For each output element (row-major), the flat input index it copies; -1: padding."""
    d = len(attrs.kernel)
    idx = np.arange(int(np.prod(in_shape))).reshape(in_shape)
    pads = list(zip(attrs.pad_before, attrs.pad_after)) + [(0, 0)]
    idx = np.pad(idx, pads, constant_values=-1)
    axes = [np.arange(o) * s for o, s in zip(out_spatial(attrs, in_shape[:-1]), attrs.strides)]
    grid = np.meshgrid(*axes, *[np.arange(k) for k in attrs.kernel], indexing="ij")
    coords = tuple(grid[i] + grid[d + i] for i in range(d))   # (out..., kernel...) per axis
    return idx[coords].reshape(-1)


def gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[..., index]`` over the last (flat) axis, with 0 where index is -1."""
    padded = np.concatenate([values, np.zeros(values.shape[:-1] + (1,), dtype=values.dtype)], axis=-1)
    return padded[..., index]   # -1 reads the appended zero


class Patches(Op):
    name = "patches"
    Attrs = PatchesAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})
    hls4ml_into_consumer = True     # the following dense becomes hls4ml's Conv1D/Conv2D

    def out_shape(self, attrs: PatchesAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        window = int(np.prod(attrs.kernel)) * int(in_shape[-1])
        return out_spatial(attrs, tuple(in_shape[:-1])) + (window,)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        a: PatchesAttrs = node.attrs
        if len(x.shape) != len(a.kernel) + 1 or min(out_spatial(a, x.shape[:-1]), default=0) < 1 \
                or y.shape != self.out_shape(a, x.shape) or a.in_shape != x.shape:
            raise IRError(f"node {node.name!r}: patches with kernel {a.kernel}, strides {a.strides} do not map "
                          f"input {x.shape} to output {y.shape} (channels last, one spatial axis per kernel entry)")
        if x.type is not None and y.type is not None and x.type != y.type:
            raise IRError(f"node {node.name!r}: patches only copies codes; output type {y.type} != input {x.type}")

    def index(self, graph: Graph, node: Node) -> np.ndarray:
        return patch_index(node.attrs, graph.tensor(node.inputs[0]).shape)

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        x = np.asarray(xs[0])
        y = gather(x.reshape(len(x), -1), self.index(graph, node))
        return [y.reshape((len(x),) + graph.tensor(node.outputs[0]).shape)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            graph = graph.retyped(out.name, graph.tensor(node.inputs[0]).type)
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        lo, hi, frac = env[node.inputs[0]]
        i = self.index(graph, node)
        iv = (gather(np.ravel(lo), i), gather(np.ravel(hi), i), frac)
        env[node.outputs[0]] = cast_interval(iv, graph.tensor(node.outputs[0]).type)

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool]:
        # corner vectors: the windows of the input map (the dense after it gets its own corners)
        return gather(src, patch_index(node.attrs, node.attrs.in_shape)), False

    def stream_rows(self, graph: Graph, node: Node) -> int:
        # hls4ml streams a 'same' Conv's input through a ZeroPadding layer: the padded extent
        a: PatchesAttrs = node.attrs
        return int(np.prod([n + p + q for n, p, q in zip(a.in_shape[:-1], a.pad_before, a.pad_after)]))

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.cost import Cost
        return Cost(), "wiring: windows copy input wires (the dense after it counts every position)"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.conv_context import patches_context
        return patches_context(graph, node, target, self.index(graph, node))

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "copy"}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.conv_context import patches_layer
        return patches_layer(graph, node, xs, self.index(graph, node))

    def hls4ml_kind(self, node: Node) -> str:
        return "patches"
