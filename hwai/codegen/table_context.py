"""The ``table`` op (:mod:`hwai.ops.table`) in every backend: the stored codes, addressed
by the raw bits of the input code, printed as each backend needs them.

- native HLS: a ``static const out_t`` array (exact double literals, and the integer-code
  twin under ``HWAI_CSIM_CODES`` that :func:`hwai.sim.handoff.table_differences` checks),
  read at ``x.range(W - 1, 0)``;
- Verilog: one constant bit vector per node (entry a at ``[a*Wo +: Wo]``) read by each
  element's ``W`` input bits; synthesis turns the constant shift into a LUT ROM;
- hls4ml: its ``UnaryLUT`` layer (``nnet::unary_lut``, indexed by ``x(x.width - 1, 0)``,
  the same addressing), with ``table_t`` = the output type so the final cast is exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwai.codegen.context import MAX_LITERAL_BITS, elementwise_context
from hwai.codegen.verilog_context import Layer, Sig, ident
from hwai.errors import HwaiError
from hwai.ir.graph import Graph, Node
from hwai.target import Target

ROW = 16   # entries per printed line


def _codes(node: Node) -> np.ndarray:
    return np.asarray(node.attrs.table, dtype=np.int64)


def _rows(items: list[str]) -> list[str]:
    return [", ".join(items[i:i + ROW]) for i in range(0, len(items), ROW)]


def table_context(graph: Graph, node: Node, target: Target) -> dict[str, Any]:
    """Native HLS context: the elementwise one plus the table (literals and codes)."""
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    if tout.width > MAX_LITERAL_BITS:
        raise HwaiError(f"node {node.name!r}: {tout.width}-bit table entries exceed the "
                        f"{MAX_LITERAL_BITS}-bit exact double literal limit")
    codes = _codes(node)
    ctx = elementwise_context(graph, node, target)
    return {**ctx, "table": f"{ctx['fn']}_table", "size": int(codes.size), "in_width": tin.width,
            "function": node.attrs.function,
            "rows": _rows([repr(math.ldexp(float(q), -tout.frac)) for q in codes]),
            "code_rows": _rows([str(int(q)) for q in codes])}


# --- Verilog -------------------------------------------------------------------------


def _rom_literal(codes: np.ndarray, width: int) -> str:
    """Entry a at bits [a*width +: width] of one constant, as a sized hex literal."""
    total = int(codes.size) * width
    value = 0
    for q in codes[::-1]:
        value = (value << width) | (int(q) & ((1 << width) - 1))
    return f"{total}'h{value:0{(total + 3) // 4}x}"


def table_verilog(graph: Graph, node: Node, xs: list[Sig]) -> tuple[Layer, list[Sig]]:
    """One ROM constant for the node; element i reads entry ``x_i[W-1:0]`` (an unsigned
    output code is zero-extended into the signed wire convention)."""
    from hwai.ir.tables import code_ordered

    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    codes = _codes(node)
    layer = Layer(ident(node.name), node.op)
    rom = f"{layer.name}_rom"
    layer.body.append({"kind": "wire", "name": rom, "width": int(codes.size) * tout.width,
                       "expr": _rom_literal(codes, tout.width)})
    ordered = code_ordered(node.attrs.table, tin)
    width = tout.width + (0 if tout.signed else 1)
    outs = []
    for i, x in enumerate(xs):
        entry = f"{rom}[{x.name}[{tin.width - 1}:0] * {tout.width} +: {tout.width}]"
        expr = f"$signed({entry})" if tout.signed else f"{{1'b0, {entry}}}"
        name = f"{ident(node.outputs[0])}_{i}"
        layer.body.append({"kind": "wire", "name": name, "width": width, "expr": expr})
        seg = ordered[x.lo - tin.qmin:x.hi - tin.qmin + 1]     # the entries x may select
        outs.append(Sig(name, width, int(seg.min()), int(seg.max()), tout.frac))
    return layer, outs


# --- hls4ml ----------------------------------------------------------------------------


def unary_lut_dict(graph: Graph, layer: Any) -> dict[str, Any]:
    """hls4ml's ``UnaryLUT`` layer dict (hls4ml/converters/keras/hgq_proxy_model.py writes the
    same keys): the entries as the exact values of their codes, ``table_t`` the output type."""
    from hls4ml.model.types import FixedPrecisionType

    tout = graph.tensor(layer.node.outputs[0]).type
    values = np.ldexp(_codes(layer.node).astype(np.float64), -tout.frac)
    return {"name": layer.name, "class_name": "UnaryLUT", "data_format": "channels_last",
            "activation": "unary_lut", "table_data": values,
            "table_t": FixedPrecisionType(tout.width, tout.integer, tout.signed, tout.rounding, tout.overflow)}
