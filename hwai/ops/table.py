"""``table``: an elementwise function stored as a table, y = table[address(x)].

Golden semantics: ``address(x)`` is the raw W bits of x's code (W = the input type's
width, two's complement read as unsigned) and ``table`` holds 2**W codes of the output
type, filled once at lowering by :func:`hwai.ir.tables.build_table` (sigmoid, tanh). No
cast happens at lookup: every backend stores the same codes and reads the entry the
input's bits select, so golden == firmware by construction of the addressing alone. A
wide argument is narrowed first by a ``quant`` node to the table's index type (the
frontends insert it; :func:`hwai.ir.tables.index_type`).

Attributes: ``function`` (what the table holds, e.g. ``sigmoid`` or a QKeras quantizer's
name; for reports) and ``table``
(int64 codes of the output type, by address).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.tables import MAX_TABLE_BITS, code_ordered, input_codes, lookup
from hwai.ir.types import FixedType
from hwai.ops.base import IntArray, Interval, OpAttrs
from hwai.ops.cast import Elementwise

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


@dataclass(frozen=True, eq=False)
class TableAttrs(OpAttrs):
    function: str
    table: np.ndarray

    def __post_init__(self) -> None:
        from hwai.ir.graph import IRError
        if not isinstance(self.function, str) or not self.function:
            raise IRError(f"table: function must name what the table holds, got {self.function!r}")
        object.__setattr__(self, "table", np.asarray(self.table, dtype=np.int64).ravel())


class Table(Elementwise):
    name = "table"
    Attrs = TableAttrs

    def check(self, graph: Graph, node: Node) -> None:
        from hwai.ir.graph import IRError
        super().check(graph, node)
        tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
        if tin is None or tout is None:
            raise IRError(f"node {node.name!r}: a table needs typed input and output tensors")
        if tin.width > MAX_TABLE_BITS:
            raise IRError(f"node {node.name!r}: a table indexed by a {tin.width}-bit input has more than "
                          f"2**{MAX_TABLE_BITS} entries; cast the input to a narrower index type first")
        if node.attrs.table.size != 1 << tin.width or not tout.contains(node.attrs.table):
            raise IRError(f"node {node.name!r}: the table needs 2**{tin.width} codes of {tout}, "
                          f"got {node.attrs.table.size} in {node.attrs.table.min()}..{node.attrs.table.max()}")

    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        return [lookup(node.attrs.table, np.asarray(xs[0]), graph.tensor(node.inputs[0]).type)]

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        """Per element: the smallest and largest entry over the input codes it may hold."""
        tin = graph.tensor(node.inputs[0]).type
        lo, hi, _ = env[node.inputs[0]]
        ordered = code_ordered(node.attrs.table, graph.tensor(node.inputs[0]).type)
        ends = [(int(a) - tin.qmin, int(b) - tin.qmin + 1) for a, b in
                zip(np.asarray(lo, dtype=object).ravel(), np.asarray(hi, dtype=object).ravel())]
        qlo = np.array([int(ordered[a:b].min()) for a, b in ends], dtype=object)
        qhi = np.array([int(ordered[a:b].max()) for a, b in ends], dtype=object)
        shape = np.asarray(lo).shape
        env[node.outputs[0]] = qlo.reshape(shape), qhi.reshape(shape), graph.tensor(node.outputs[0]).type.frac

    def linear_map(self, node: Node, src: Any) -> None:
        return None     # corner vectors stop at a nonlinear function

    def summary(self, node: Node) -> dict[str, Any]:
        return {"function": node.attrs.function, "table_entries": int(node.attrs.table.size)}

    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        """One ROM per element (fully unrolled: each element has its own read port): 2**W
        entries of the output width in LUT6s (:func:`hwai.estimate.rules.rom_luts`). Yosys
        (synth_xilinx, xcup) on two-element sigmoid/tanh tables: 68 / 312 / 314 LUT for
        2**8 x 8 / 2**10 x 10 / 2**10 x 10 bits vs 64 / 320 / 320 estimated, logic depth
        W - 5 levels (3 and 5), which the stage delay uses."""
        from hwai.estimate.cost import Cost
        from hwai.estimate.rules import rom_luts
        tin, out = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0])
        levels = max(1, tin.width - 5)
        lut = rom_luts(1 << tin.width, out.type.width) * out.size
        return Cost(lut, 0.0, 0, 0.0, 0, 1, c.ns_per_level * levels), \
            f"ROM of 2**{tin.width} x {out.type.width} bits per element"

    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        from hwai.codegen.table_context import table_context
        return table_context(graph, node, target)

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        tin = graph.tensor(node.inputs[0]).type
        return {"kind": "table", "mask": str((1 << tin.width) - 1)}

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        from hwai.codegen.table_context import table_verilog
        return table_verilog(graph, node, xs)

    def hls4ml_kind(self, node: Node) -> str:
        return "table"

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        from hwai.codegen.table_context import unary_lut_dict
        return [unary_lut_dict(graph, layer)]

    def hls4ml_precision(self, layer: Any) -> dict[str, FixedType]:
        return {"table": layer.result}   # entries are output codes: table_t = result_t

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        return {"table": hls_layer.get_attr("table_t").precision}

    def table_type(self, graph: Graph, node: Node) -> FixedType:
        """The entries' type: the output type (each entry is an output code)."""
        return graph.tensor(node.outputs[0]).type


__all__ = ["Table", "TableAttrs", "code_ordered", "input_codes"]
