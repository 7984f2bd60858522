"""``softmax`` over the last axis through two lookup tables: hls4ml's ``softmax_stable``
(nnet_activation.h) step by step, so its C simulation, hwai's native HLS / int64 C-sim and
Verilog all equal the golden model.

Golden semantics per sample (codes; n values x_j of the input type):

1. m = max_j x_j; d_j = cast(m - x_j, norm) (exact difference, then ``norm``'s rounding and
   saturation: hls4ml's ``inp_norm_t``);
2. e_j = exp_table[d_j] (codes of ``exp``; address = the unsigned code of d_j, all its bits);
3. s = sum_j e_j, exact (``accum``: hls4ml's ``accum_t`` holds it), then cast(s, inv_in);
4. r = inv_table[s] (codes of ``inv``), y_j = cast(e_j * r, output type), the product exact.

The tables are filled once at lowering (:func:`hwai.ir.tables.softmax_exp_table`,
:func:`~hwai.ir.tables.softmax_inv_table`) and stored here as codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import cast_interval
from hwai.ir.types import FixedType, requantize
from hwai.ops.base import IntArray, Interval, Op, OpAttrs

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node

TYPES = ("norm", "exp", "accum", "inv_in", "inv")


@dataclass(frozen=True, eq=False)
class SoftmaxAttrs(OpAttrs):
    norm_type: FixedType
    exp_type: FixedType
    accum_type: FixedType
    inv_in_type: FixedType
    inv_type: FixedType
    exp_table: np.ndarray
    inv_table: np.ndarray

    def __post_init__(self) -> None:
        for k in ("exp_table", "inv_table"):
            object.__setattr__(self, k, np.asarray(getattr(self, k), dtype=np.int64).ravel())

    def type_of(self, role: str) -> FixedType:
        return getattr(self, f"{role}_type")


def steps(graph: Graph, node: Node, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every intermediate of the golden semantics for codes ``x`` (..., n): d, e, s, r, y."""
    a: SoftmaxAttrs = node.attrs
    tin = graph.tensor(node.inputs[0]).type
    d = requantize(x.max(axis=-1, keepdims=True) - x, tin.frac, a.norm_type)
    e = a.exp_table[d]
    s = requantize(requantize(e.sum(axis=-1), a.exp_type.frac, a.accum_type), a.accum_type.frac, a.inv_in_type)
    r = a.inv_table[s]
    y = requantize(e * r[..., None], a.exp_type.frac + a.inv_type.frac, graph.tensor(node.outputs[0]).type)
    return {"d": d, "e": e, "s": s, "r": r, "y": y}


class Softmax(Op):
    name = "softmax"
    Attrs = SoftmaxAttrs

    def out_shape(self, attrs: SoftmaxAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(in_shape)

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        a: SoftmaxAttrs = node.attrs
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
        if x.shape != y.shape or x.type is None or y.type is None:
            raise IRError(f"node {node.name!r}: softmax keeps its typed input's shape {x.shape}")
        for table, idx, out in (("exp_table", a.norm_type, a.exp_type), ("inv_table", a.inv_in_type, a.inv_type)):
            codes = getattr(a, table)
            if idx.signed or codes.size != 1 << idx.width or not out.contains(codes):
                raise IRError(f"node {node.name!r}: softmax {table} needs 2**{idx.width} codes of {out} "
                              f"indexed by an unsigned type, got {codes.size} ({idx})")
        n = x.shape[-1]
        if a.accum_type.frac != a.exp_type.frac or a.accum_type.qmax < n * a.exp_type.qmax:
            raise IRError(f"node {node.name!r}: softmax accumulator {a.accum_type} does not hold the sum of "
                          f"{n} entries of {a.exp_type} exactly")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        x = np.asarray(xs[0], dtype=np.int64)
        n = graph.tensor(node.inputs[0]).shape[-1]
        y = steps(graph, node, x.reshape(len(x), -1, n))["y"]
        return [y.reshape(x.shape)]

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        a: SoftmaxAttrs = node.attrs
        lo, hi, _ = env[node.inputs[0]]
        e_lo, e_hi = int(a.exp_table.min()), int(a.exp_table.max())
        r_lo, r_hi = int(a.inv_table.min()), int(a.inv_table.max())
        shape = np.asarray(lo).shape
        pre = (np.full(shape, e_lo * r_lo, dtype=object), np.full(shape, e_hi * r_hi, dtype=object),
               a.exp_type.frac + a.inv_type.frac)
        env[node.outputs[0]] = cast_interval(pre, graph.tensor(node.outputs[0]).type)

    def summary(self, node: Node) -> dict[str, Any]:
        a = node.attrs
        return {"exp_table": int(a.exp_table.size), "inv_table": int(a.inv_table.size)}

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.codegen.softmax_context import softmax_cost
        return softmax_cost(graph, node, c)

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.softmax_context import softmax_native
        return softmax_native(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        from hwai.codegen.softmax_context import softmax_int
        return softmax_int(graph, node)

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.softmax_context import softmax_verilog
        return softmax_verilog(graph, node, xs)

    def hls4ml_kind(self, node: Node) -> str:
        return "softmax"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.hls4ml_layers import activation_dict
        return [activation_dict(layer.name, "softmax", class_name="Softmax", axis=-1)]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        a: SoftmaxAttrs = layer.node.attrs
        return {"exp_table": a.exp_type, "inv_table": a.inv_type, "inv_inp": a.inv_in_type, "accum": a.accum_type}

    def hls4ml_config(self, layer: Any) -> dict[str, Any]:
        from hwai.codegen.hlstypes import hls_type
        a: SoftmaxAttrs = layer.node.attrs
        # hls4ml's Softmax reads these types from layer attributes, not from Precision (which
        # still lists them: check_types compares them after conversion)
        return {"implementation": "stable", "exp_table_size": int(a.exp_table.size),
                "inv_table_size": int(a.inv_table.size), "inp_norm_t": hls_type(a.norm_type),
                **{f"{k}_t": hls_type(t) for k, t in self.hls4ml_precision(layer).items() if k != "accum"}}

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {k: hls_layer.get_attr(f"{k}_t").precision for k in ("exp_table", "inv_table", "inv_inp", "accum")}
