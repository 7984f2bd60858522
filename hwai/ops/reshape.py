"""``reshape``: the same codes under a new per-sample shape (Keras ``Flatten``/``Reshape``).

Tensors are row-major, so a reshape moves no data: the golden model reshapes the array,
the native emitters copy element i to element i (HLS removes the copy), the Verilog
emitter passes the input wires on, and hls4ml gets its own ``Reshape`` (io_parallel: an
in-place variable). Attribute: ``target_shape``, the output's per-sample shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class ReshapeAttrs(OpAttrs):
    target_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_shape", tuple(int(v) for v in self.target_shape))   # saved graphs give lists


class Reshape(Op):
    name = "reshape"
    Attrs = ReshapeAttrs
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def out_shape(self, attrs: ReshapeAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return attrs.target_shape

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        if x.size != y.size or y.shape != node.attrs.target_shape:
            raise IRError(f"node {node.name!r}: reshape {x.shape} -> {node.attrs.target_shape} must keep the "
                          f"{x.size} elements and give the output tensor's shape {y.shape}")
        if x.type is not None and y.type is not None and x.type != y.type:
            raise IRError(f"node {node.name!r}: reshape moves no data; output type {y.type} != input {x.type}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        x = np.asarray(xs[0])
        return [x.reshape((len(x),) + node.attrs.target_shape)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            graph = graph.retyped(out.name, graph.tensor(node.inputs[0]).type)
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = env[node.inputs[0]]   # row-major: element i is element i

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool]:
        return src, False

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.cost import Cost
        return Cost(), "wiring: a reshape moves no data"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.context import elementwise_context
        return elementwise_context(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "copy"}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import Layer, ident
        return Layer(ident(node.name), node.op), list(xs)

    def hls4ml_kind(self, node: Node) -> str:
        return "reshape"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        return [{"name": layer.name, "class_name": "Reshape", "data_format": "channels_last",
                 "target_shape": list(layer.node.attrs.target_shape)}]
