"""The integer C-simulation flavour of the native core: the same IR over plain int64.

Every tensor is held as its integer code and every ap_fixed cast becomes a shift and
a mask or clamp (``hwai_int::cast`` in ``templates/native_int/hwai_int.h``), so a
multiply-accumulate costs what an integer one does (~0.6 ns) instead of ap_fixed's
~8-15 ns. The context is the native one (:func:`hwai.codegen.context.build_context`:
names, ports, sparse rows) with per-layer cast spellings added here; the template
only loops. This flavour is for simulation only: the ap_fixed project stays the one
handed to Vitis/Vivado, and both are checked against the golden model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.codegen import templates
from hwai.codegen.context import MAX_IO_BITS, accum_is_modular, build_context
from hwai.codegen.fileset import FileSet
from hwai.errors import UnsupportedLayerError
from hwai.ir.graph import Graph, Node
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType, requantize
from hwai.target import Target

_DIR = "native_int"
Ctx = dict[str, Any]


def generate_int(graph: Graph, target: Target | None = None) -> FileSet:
    """``tb/<p>_int.cpp`` (layers, top, ctypes batch entry) and ``tb/hwai_int.h``."""
    ctx = int_context(graph, target or Target())
    p = ctx["project"]
    return FileSet({f"tb/{p}_int.cpp": templates.render(f"{_DIR}/core.cpp.j2", **ctx),
                    "tb/hwai_int.h": templates.static_file(f"{_DIR}/hwai_int.h")})


def int_context(graph: Graph, target: Target) -> Ctx:
    """The native context with each layer's integer form under ``layer["int"]``, and the
    layout of ``hwai_trace`` (every node output of one row, for the first diverging layer)."""
    ctx = build_context(graph, target)
    for layer in ctx["layers"]:
        layer["int"] = _int_layer(graph, graph.node(layer["name"]), layer["ctx"])
    cnames = {t["name"]: t["cname"] for t in ctx["buffers"] + ctx["outputs"]}
    ctx["trace"] = [{"cname": cnames[name], "offset": off} for name, off, _ in trace_layout(graph)]
    ctx["n_trace_codes"] = sum(size for _, _, size in trace_layout(graph))
    return ctx


def trace_layout(graph: Graph) -> list[tuple[str, int, int]]:
    """(tensor, offset, size) of every node output, in graph order, in a trace row."""
    out, offset = [], 0
    for name in dict.fromkeys(t for n in graph.nodes for t in n.outputs):
        size = graph.tensor(name).size
        out.append((name, offset, size))
        offset += size
    return out


def int_cast(frac_in: int, to: FixedType) -> str:
    """The one spelling of a cast in this flavour: ``hwai_int::cast<S, W, signed, Q, O>``."""
    signed = "true" if to.signed else "false"
    return (f"hwai_int::cast<{frac_in - to.frac}, {to.width}, {signed}, "
            f"hwai_int::{to.rounding}, hwai_int::{to.overflow}>")


def _int_layer(graph: Graph, node: Node, op_ctx: Ctx) -> Ctx:
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    for t in (tin, tout):
        _check_bits(node, t.width, "tensor")
    return {**op_of(node).native_int(graph, node, op_ctx),
            "template": f"{_DIR}/ops/{node.op}.cpp.j2"}


def elementwise_int(graph: Graph, node: Node, shift: int = 0) -> Ctx:
    """A cast op: one ``int_cast`` from the input's fraction + ``shift`` (an op that first
    moves its codes ``shift`` bits left, as leaky_relu does, says so)."""
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    _check_bits(node, _bits(tin) + shift + max(0, tout.frac - tin.frac - shift), "left-shifted code")
    return {"kind": "elementwise", "cast": int_cast(tin.frac + shift, tout)}


def hetero_quant_int(graph: Graph, node: Node, types: list[FixedType | None]) -> Ctx:
    """A quant whose elements have their own types: ``int_cast`` into the element's type,
    then the code times 2**(F - f_i) onto the output grid (exact: the output type covers
    every element type); a 0-bit element (None) is the constant 0."""
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    _check_bits(node, _bits(tin) + max(0, tout.frac - tin.frac), "left-shifted code")
    return {"kind": "elementwise", "elements": [
        {"i": i, "cast": None if t is None else int_cast(tin.frac, t),
         "scale": None if t is None else str(1 << (tout.frac - t.frac))} for i, t in enumerate(types)]}


def dense_int(graph: Graph, node: Node, op_ctx: Ctx) -> Ctx:
    """CSR tables (nonzero weights in input order) and the casts of dense_latency."""
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    a = node.attrs
    tw, tb, ta = a.weight_type, a.bias_type, a.accum_type
    fp = tin.frac + tw.frac
    _check_bits(node, ta.width, "accumulator")
    _check_bits(node, _bits(tin) + _bits(tw), "product")
    rows = op_ctx["rows"]
    start = np.cumsum([0] + [r["nnz"] for r in rows]).tolist()
    b = np.asarray(node.attrs.bias, dtype=np.int64)
    out = {"kind": "dense", "start": [str(s) for s in start],
           "idx": [i for r in rows for i in r["idx"][:r["nnz"]]] or ["0"],
           "w": [c for r in rows for c in r["w_codes"][:r["nnz"]]] or ["0"],
           "cast_out": int_cast(ta.frac, tout)}
    if accum_is_modular(ta, fp, tb.frac):
        # sum exactly, then one wrap: int64 must hold the exact sum (checked here)
        abs_sum = np.abs(np.asarray(node.attrs.weight, dtype=np.int64)).astype(object).sum(axis=0)
        bound = int(max(abs_sum * max(-tin.qmin, tin.qmax) * (1 << (ta.frac - fp))
                        + np.abs(b).astype(object) * (1 << (ta.frac - tb.frac)), default=0))
        _check_bits(node, bound.bit_length() + 1, "exact accumulator sum")
        return {**out, "modular": True, "scale": str(1 << (ta.frac - fp)),
                "bias": [str(int(v) << (ta.frac - tb.frac)) for v in b],
                "cast_acc": int_cast(ta.frac, ta)}
    _check_bits(node, _bits(tin) + _bits(tw) + max(0, ta.frac - fp), "left-shifted product")
    return {**out, "modular": False, "bias": [str(int(v)) for v in requantize(b, tb.frac, ta)],
            "cast_prod": int_cast(fp, ta), "cast_sum": int_cast(ta.frac, ta)}


def _bits(t: FixedType) -> int:
    """Bits of the largest |code| of ``t`` (sign excluded)."""
    return max(-t.qmin, t.qmax).bit_length()


def _check_bits(node: Node, bits: int, what: str) -> None:
    if bits > MAX_IO_BITS:
        raise UnsupportedLayerError(f"node {node.name!r}: {what} needs {bits} bits, more than the "
                                    f"{MAX_IO_BITS} the int64 C-simulation flavour holds; "
                                    "check it with the ap_fixed backend (--backends apfixed)")
