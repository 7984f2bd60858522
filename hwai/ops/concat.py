"""``concat``: join two or more tensors along a per-sample axis (Keras ``Concatenate``).

Rule (one, followed by every backend): **each input is cast into the output type**, then
the elements are placed. Precision inference gives the output the smallest type that holds
every input *type* exactly (the finest fraction, the widest range), so after it the casts
only move codes onto the common grid and every input keeps its value whatever its codes.
A user-set narrower output type is honoured by the same cast (its rounding/overflow).
hls4ml's ``concatenate1d/2d/3d`` (``res[i] = data1[i]``: an ap_fixed assignment into
``res_T``) is that cast; the native core assigns the same way; the integer flavour and the
Verilog use :func:`hwai.codegen.native_int.int_cast` / ``hwai_cast`` per element.

Attribute: ``axis``, a per-sample axis (negative counts from the end; no batch axis).
Element j of the row-major output comes from element ``source(j)`` of the row-major
concatenation of the flattened inputs (:func:`source_index`), for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class ConcatAttrs(OpAttrs):
    axis: int = -1


def norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def concat_shape(shapes: list[tuple[int, ...]], axis: int) -> tuple[int, ...] | None:
    """The output shape, or None when the inputs do not fit together on ``axis``."""
    rank = len(shapes[0])
    a = norm_axis(axis, rank)
    if not 0 <= a < rank or any(len(s) != rank for s in shapes):
        return None
    rest = {s[:a] + s[a + 1:] for s in shapes}
    if len(rest) != 1:
        return None
    return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]


def source_index(shapes: list[tuple[int, ...]], axis: int) -> np.ndarray:
    """Output element j (row-major) <- element ``out[j]`` of the flat inputs laid end to end."""
    parts, offset = [], 0
    for s in shapes:
        n = int(np.prod(s)) if s else 1
        parts.append(np.arange(offset, offset + n).reshape(s))
        offset += n
    return np.concatenate(parts, axis=norm_axis(axis, len(shapes[0]))).ravel()


def sources(graph: Graph, node: Node) -> list[tuple[int, int]]:
    """(input k, element i) feeding each output element, in output order."""
    shapes = [graph.tensor(t).shape for t in node.inputs]
    starts = np.cumsum([0] + [graph.tensor(t).size for t in node.inputs])
    out = []
    for g in source_index(shapes, node.attrs.axis):
        k = int(np.searchsorted(starts, g, side="right") - 1)
        out.append((k, int(g - starts[k])))
    return out


def covering(types: list[FixedType]) -> FixedType:
    """The smallest type holding every value of every input type exactly."""
    f = max(t.frac for t in types)
    lo = min(t.qmin << (f - t.frac) for t in types)
    hi = max(t.qmax << (f - t.frac) for t in types)
    return type_for_range(lo, hi, f)


class Concat(Op):
    name = "concat"
    Attrs = ConcatAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        shapes = [graph.tensor(t).shape for t in node.inputs]
        want = concat_shape(shapes, node.attrs.axis) if len(shapes) >= 2 else None
        got = graph.tensor(node.outputs[0]).shape
        if want is None or want != got:
            raise IRError(f"node {node.name!r}: concat on axis {node.attrs.axis} of {shapes} does not "
                          f"give {got} (two or more inputs, equal except on the axis)")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        tout = graph.tensor(node.outputs[0]).type
        flat = [requantize(np.asarray(x).reshape(len(x), -1), graph.tensor(t).type.frac, tout)
                for x, t in zip(xs, node.inputs)]
        shapes = [graph.tensor(t).shape for t in node.inputs]
        return [np.concatenate(flat, axis=1)[:, source_index(shapes, node.attrs.axis)]]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        self.check(graph, node)   # shapes first: the interval rule indexes by them
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            graph = graph.retyped(out.name, covering([graph.tensor(t).type for t in node.inputs]))
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        tout = graph.tensor(node.outputs[0]).type
        los, his = [], []
        for t in node.inputs:
            lo, hi, _ = cast_interval(env[t], tout)
            los.append(np.asarray(lo, dtype=object).ravel())
            his.append(np.asarray(hi, dtype=object).ravel())
        idx = source_index([graph.tensor(t).shape for t in node.inputs], node.attrs.axis)
        env[node.outputs[0]] = (np.concatenate(los)[idx], np.concatenate(his)[idx], tout.frac)

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool] | None:
        return None

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """Wiring, plus the output cast of each input whose type the output does not hold."""
        from hwai.estimate.cost import Cost
        from hwai.estimate.rules import cast_bits
        tout = graph.tensor(node.outputs[0])
        lut = sum(c.lut_per_cast_bit * cast_bits(graph.tensor(t).type, tout.type) * graph.tensor(t).size
                  for t in node.inputs)
        return Cost(float(lut), 0.0, 0, 0.0, 0, 1), "wiring (casts only where an input type does not fit)"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.merge_context import concat_context
        return concat_context(graph, node, target, sources(graph, node))

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.merge_context import concat_int
        return concat_int(graph, node, sources(graph, node))

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.merge_context import concat_layer
        return concat_layer(graph, node, xs, sources(graph, node))

    def hls4ml_kind(self, node: Node) -> str:
        return "concatenate"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.merge_context import merge_dict
        rank = len(graph.tensor(layer.node.inputs[0]).shape)
        # hls4ml's axis counts the batch axis (Keras config), -1 stays -1
        axis = layer.node.attrs.axis if layer.node.attrs.axis < 0 else layer.node.attrs.axis + 1
        return [merge_dict(graph, layer, "Concatenate", op=f"concatenate{rank}d", axis=axis)]
