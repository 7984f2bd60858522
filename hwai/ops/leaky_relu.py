"""``leaky_relu``: out = cast(x > 0 ? x : x * 2**-shift) (Keras ``LeakyReLU`` with a
power-of-two slope, so the negative branch is exact: the same code, ``shift`` more
fractional bits). Attribute: ``shift`` (alpha = 2**-shift, shift >= 1).

Added through the registry alone: this module, its templates
(``native/ops/leaky_relu.h.j2``, ``native_int/ops/leaky_relu.cpp.j2``), one line in
:data:`hwai.ops.OPS`, and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval, type_for_range
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, OpAttrs
from hwai.ops.cast import Elementwise

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class LeakyReluAttrs(OpAttrs):
    shift: int

    def __post_init__(self) -> None:
        from hwai.ir.graph import IRError
        if int(self.shift) < 1:
            raise IRError(f"leaky_relu: shift {self.shift} must be >= 1 (alpha = 2**-shift < 1)")
        object.__setattr__(self, "shift", int(self.shift))


def _scaled(q: Any, shift: int) -> Any:
    """Codes at ``shift`` more fractional bits: x << shift where x > 0, x itself (= x * alpha)
    elsewhere. Monotone, so it maps interval ends to interval ends."""
    return np.where(q > 0, q * (1 << shift), q)


class LeakyRelu(Elementwise):
    name = "leaky_relu"
    Attrs = LeakyReluAttrs

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        tx = graph.tensor(node.inputs[0]).type
        s = node.attrs.shift
        return [requantize(_scaled(xs[0], s), tx.frac + s, graph.tensor(node.outputs[0]).type)]

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        out = graph.tensor(node.outputs[0])
        if out.type is None:
            lo, hi, frac = self._pre(node, env)
            graph = graph.retyped(out.name, type_for_range(int(lo.min()), int(hi.max()), frac))
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        env[node.outputs[0]] = cast_interval(self._pre(node, env), graph.tensor(node.outputs[0]).type)

    def _pre(self, node: Node, env: dict[str, Interval]) -> Interval:
        lo, hi, frac = env[node.inputs[0]]
        s = node.attrs.shift
        return _scaled(lo, s).astype(object), _scaled(hi, s).astype(object), frac + s

    def gate_bits(self, graph: Graph, node: Node) -> float:
        # a sign-controlled 2:1 mux per output bit, packed two per LUT6_2 (as relu's gate)
        return graph.tensor(node.outputs[0]).type.width / 2

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.hlstypes import hls_type
        ctx = super().native(graph, node, target)
        return {**ctx, "alpha_t": hls_type(self.alpha_type(node)), "alpha": repr(2.0 ** -node.attrs.shift)}

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import elementwise_int
        return {**elementwise_int(graph, node, node.attrs.shift), "shift": node.attrs.shift}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import elementwise_layer
        s = node.attrs.shift
        return elementwise_layer(graph, node, xs, lambda layer, x, i: _verilog_scaled(layer, x, i, s))

    def alpha_type(self, node: Node) -> FixedType:
        """The slope's type in C++/hls4ml: exactly 2**-shift."""
        return FixedType(node.attrs.shift + 1, 1, signed=False)

    def hls4ml_kind(self, node: Node) -> str:
        return "leaky_relu"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        # what hls4ml's Keras parser makes of LeakyReLU(alpha) (parse_activation_layer)
        from hwai.codegen.hls4ml_layers import activation_dict
        return [activation_dict(layer.name, "LeakyReLU", class_name="LeakyReLU",
                                activ_param=2.0 ** -layer.node.attrs.shift)]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        return {"param": self.alpha_type(layer.node)}

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {"param": hls_layer.get_attr("param_t").precision}


def _verilog_scaled(layer: Any, x: Any, i: int, s: int) -> Any:
    """Wire of :func:`_scaled`: sign-extend negatives (and zero), append s zero bits to positives."""
    from hwai.codegen.verilog_context import Sig
    lo, hi = (v << s if v > 0 else v for v in (x.lo, x.hi))
    msb = f"{x.name}[{x.width - 1}]"
    src = Sig(f"{layer.name}_m{i}", x.width + s, lo, hi, x.frac + s)
    expr = msb + " ? {{" + str(s) + "{" + msb + "}}, " + x.name + "} : {" + x.name + ", " + f"{s}'b0" + "}"
    layer.body.append({"kind": "wire", "name": src.name, "width": src.width, "expr": expr})
    return src
