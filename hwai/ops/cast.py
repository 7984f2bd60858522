"""Shared rules of the one-input elementwise ops that end in a cast to the output type
(``relu``, ``quant``, ``leaky_relu``): same shape in and out, one cast per element."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hwai.ops.base import Op

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


class Elementwise(Op):
    """An op applied to each element independently (shape preserved)."""

    # element i of the row-major flattened tensor is element i: no emitter needs a shape
    shaped = frozenset({"native HLS", "Verilog", "hls4ml"})

    def out_shape(self, attrs: Any, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError

        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        if x.shape != y.shape:
            raise IRError(f"node {node.name!r}: elementwise op changes shape {x.shape} -> {y.shape}")

    def linear_map(self, node: Node, src: Any) -> tuple[Any, bool]:
        return src, False     # corner vectors: follow the input, no accumulator here

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.context import elementwise_context
        return elementwise_context(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import elementwise_int
        return elementwise_int(graph, node)

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """LUT = b * (cast bits + the op's own gate bits) per element; combinational."""
        from hwai.estimate.cost import Cost
        from hwai.estimate.rules import cast_bits
        tx = graph.tensor(node.inputs[0]).type
        out = graph.tensor(node.outputs[0])
        bits = cast_bits(tx, out.type) + self.gate_bits(graph, node)
        return Cost(c.lut_per_cast_bit * bits * out.size, 0.0, 0, 0.0, 0, 1), ""

    def gate_bits(self, graph: Graph, node: Node) -> float:
        """LUT bits of the op's own logic before the cast (0 for a plain cast)."""
        return 0.0

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import elementwise_layer
        return elementwise_layer(graph, node, xs, self.verilog_pre)

    def verilog_pre(self, layer: Any, x: Any, i: int) -> Any:
        """The signal cast into the output type for element ``i`` (default: the input)."""
        return x

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.hls4ml_layers import activation_dict
        return [activation_dict(layer.name, layer.kind)]
