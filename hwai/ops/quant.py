"""``quant``: out = cast(x), a linear quantizer (rounding/overflow of the output type).

Heterogeneous (HGQ-style) quantizers give each element its own type: ``widths``,
``integers`` and ``signed`` (arrays of the tensor's shape; width 0 = the element is the
constant 0). Element ``i`` is cast into ``ap_fixed<widths[i], integers[i]>`` (``ap_ufixed``
when unsigned) with the output type's rounding/overflow and then held, exactly, in the
output tensor's type, which must cover every element type
(:func:`hwai.ir.numeric.covering_type` is the narrowest one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import (
    cast_interval,
    cast_interval_elements,
    covering_type,
    element_types,
    holds,
    requantize_elements,
)
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, OpAttrs
from hwai.ops.cast import Elementwise

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class QuantAttrs(OpAttrs):
    widths: np.ndarray | None = None
    integers: np.ndarray | None = None
    signed: np.ndarray | None = None

    def __post_init__(self) -> None:
        for k, dt in (("widths", np.int64), ("integers", np.int64), ("signed", bool)):
            v = getattr(self, k)
            if v is not None:
                object.__setattr__(self, k, np.asarray(v, dtype=dt))

    @property
    def per_element(self) -> bool:
        return self.widths is not None


def is_per_element(node: Node) -> bool:
    """A quant node with per-element types (the emitters branch on this)."""
    return isinstance(node.attrs, QuantAttrs) and node.attrs.per_element


def node_element_types(graph: Graph, node: Node) -> list[FixedType | None]:
    """Flattened element types of a per-element quant (None: constant 0)."""
    a: QuantAttrs = node.attrs
    out = graph.tensor(node.outputs[0]).type
    return element_types(a.widths, a.integers, a.signed, out.rounding, out.overflow)


class Quant(Elementwise):
    name = "quant"
    Attrs = QuantAttrs
    cast_only = True
    fast_form = fast_cast = True

    def check(self, graph: Graph, node: Node) -> None:
        super().check(graph, node)
        a: QuantAttrs = node.attrs
        given = [a.widths is not None, a.integers is not None, a.signed is not None]
        if any(given) and not all(given):
            raise _err(node, "per-element types need widths, integers and signed together")
        if not a.per_element:
            return
        shape = graph.tensor(node.outputs[0]).shape
        for k in ("widths", "integers", "signed"):
            if getattr(a, k).shape != tuple(shape):
                raise _err(node, f"per-element {k} of shape {getattr(a, k).shape} != tensor shape {tuple(shape)}")
        if (a.widths < 0).any():
            raise _err(node, "per-element widths must be >= 0")
        out = graph.tensor(node.outputs[0]).type
        if out is not None:
            self._check_covered(node, out)

    def _check_covered(self, node: Node, out: FixedType) -> None:
        a: QuantAttrs = node.attrs
        for k, t in enumerate(element_types(a.widths, a.integers, a.signed, out.rounding, out.overflow)):
            if t is not None and not holds(out, t):
                raise _err(node, f"element {k} type {t} does not fit the tensor type {out} "
                                 "(use hwai.ir.numeric.covering_type)")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        tx = graph.tensor(node.inputs[0]).type
        out = graph.tensor(node.outputs[0]).type
        a: QuantAttrs = node.attrs
        if a.per_element:
            return [requantize_elements(xs[0], tx.frac, a.widths, a.integers, a.signed, out)]
        return [requantize(xs[0], tx.frac, out)]

    def fast_step(self, graph: Graph, node: Node, dtype: type, fresh: bool, scale: float):
        from hwai.ir.fastpath import element_cast_step, elementwise_step
        if node.attrs.per_element:
            return element_cast_step(graph, node, dtype, fresh, scale, node_element_types(graph, node))
        return elementwise_step(graph, node, dtype, fresh, scale)

    def fast_blocker(self, graph: Graph, node: Node, bits: int) -> str | None:
        from hwai.ir.fastpath import elementwise_blocker
        return elementwise_blocker(graph, node, bits)   # per element too: every f_i <= out.frac

    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        from hwai.ir.graph import IRError
        a: QuantAttrs = node.attrs
        if graph.tensor(node.outputs[0]).type is None:
            if not a.per_element:
                raise IRError(f"node {node.name!r}: a quantizer needs an explicit output type")
            graph = graph.retyped(node.outputs[0], covering_type(a.widths, a.integers, a.signed, "TRN", "WRAP"))
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        out = graph.tensor(node.outputs[0]).type
        a: QuantAttrs = node.attrs
        if a.per_element:
            env[node.outputs[0]] = cast_interval_elements(env[node.inputs[0]], a.widths, a.integers, a.signed, out)
        else:
            env[node.outputs[0]] = cast_interval(env[node.inputs[0]], out)

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """Per-element: the cast bits of each element into its own type (0-width: nothing)."""
        if not node.attrs.per_element:
            return super().cost(graph, node, target, c, iv)
        from hwai.estimate.cost import Cost
        from hwai.estimate.rules import cast_bits
        tx = graph.tensor(node.inputs[0]).type
        bits = sum(cast_bits(tx, t) for t in node_element_types(graph, node) if t is not None)
        return Cost(c.lut_per_cast_bit * bits, 0.0, 0, 0.0, 0, 1), ""

    def summary(self, node: Node) -> dict[str, Any]:
        a: QuantAttrs = node.attrs
        if not a.per_element:
            return {}
        w = a.widths.ravel()
        return {"per_element": True, "bits_min": int(w.min()), "bits_max": int(w.max()),
                "bits_mean": float(w.mean()), "zero_width": int((w == 0).sum())}

    def trailing_zeros(self, graph: Graph, node: Node) -> np.ndarray | None:
        """Element i sits on the output grid shifted left by F - f_i: that many zero bits."""
        if not node.attrs.per_element:
            return None
        frac = graph.tensor(node.outputs[0]).type.frac
        return np.array([0 if t is None else frac - t.frac for t in node_element_types(graph, node)])

    # --- emitters: per-element quants get their own forms (hwai.codegen) -------------
    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.context import hetero_quant_context
        if node.attrs.per_element:
            return hetero_quant_context(graph, node, target, node_element_types(graph, node))
        return super().native(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.native_int import hetero_quant_int
        if node.attrs.per_element:
            return hetero_quant_int(graph, node, node_element_types(graph, node))
        return super().native_int(graph, node, op_ctx)

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.verilog_context import hetero_quant_layer
        if node.attrs.per_element:
            return hetero_quant_layer(graph, node, xs, node_element_types(graph, node))
        return super().verilog(graph, node, xs, stages, style, coeffs)

    def hls4ml_kind(self, node: Node) -> str:
        from hwai.codegen.hls4ml_layers import FIXED_POINT_QUANTIZER
        return FIXED_POINT_QUANTIZER if node.attrs.per_element else "linear"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.hls4ml_layers import fixed_point_quantizer_dict
        if layer.node.attrs.per_element:
            return [fixed_point_quantizer_dict(graph, layer, node_element_types(graph, layer.node))]
        return super().hls4ml_layer_dicts(graph, layer)


def _err(node: Node, what: str) -> Exception:
    from hwai.ir.graph import IRError
    return IRError(f"node {node.name!r}: {what}")
