"""Native HLS (ap_fixed) and integer C-simulation contexts of the ``batchnorm`` and ``pool``
ops (:mod:`hwai.ops.batchnorm`, :mod:`hwai.ops.pool`); the templates only loop.

The op-template contract is the one of :mod:`hwai.codegen.context`: ``fn``, ``n_in``, ``n_out``.
"""

from __future__ import annotations

from typing import Any

from hwai.codegen.context import _check_literal, _literals, elementwise_context
from hwai.codegen.hlstypes import hls_type
from hwai.codegen.native_int import _check_bits, int_cast
from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.target import Target

Ctx = dict[str, Any]


# --- batchnorm -----------------------------------------------------------------------

def batchnorm_context(graph: Graph, node: Node, target: Target) -> Ctx:
    """Per-channel ``scale_t``/``shift_t`` tables; y[i] = x[i] * s[c] + b[c] (exact ap_fixed
    product and sum, as hls4ml's ``nnet::normalize``) assigned to the output type."""
    a = node.attrs
    fn = elementwise_context(graph, node, target)["fn"]
    for what, t in (("scale", a.scale_type), ("shift", a.shift_type)):
        _check_literal(node, what, t)
    return {**elementwise_context(graph, node, target), "n_chan": len(a.scale),
            "scale_t": f"{fn}_scale_t", "shift_t": f"{fn}_shift_t",
            "scale": _literals(a.scale, a.scale_type), "shift": _literals(a.shift, a.shift_type),
            "scale_desc": str(a.scale_type), "shift_desc": str(a.shift_type),
            "typedefs": [{"name": f"{fn}_{k}_t", "hls": hls_type(t), "comment": f"{node.name} {k}"}
                         for k, t in (("scale", a.scale_type), ("shift", a.shift_type))]}


def batchnorm_int(graph: Graph, node: Node, s: list[int], b: list[int], fs: int) -> Ctx:
    """Scale and shift codes ``s``, ``b`` already moved onto the exact sum's fraction ``fs``
    (:func:`hwai.ops.batchnorm.aligned`), then one ``int_cast``."""
    tin = graph.tensor(node.inputs[0]).type
    big = max(int(v).bit_length() for v in [*s, *b, 1])
    _check_bits(node, max(-tin.qmin, tin.qmax).bit_length() + big + 1, "exact scaled sum")
    return {"kind": "batchnorm", "scale": [str(int(v)) for v in s], "shift": [str(int(v)) for v in b],
            "cast": int_cast(fs, graph.tensor(node.outputs[0]).type)}


# --- pool (sliding window) -------------------------------------------------------------

def window_pool_context(graph: Graph, node: Node, target: Target, win: Any, shift: int) -> Ctx:
    """The window table ``win`` (flat input positions of each output position, row-major:
    :func:`hwai.ops.pool.windows`) and the types of :func:`hwai.codegen.context.pool_context`:
    exact sum/max in ``acc_t``, for avg the same bits read ``shift`` = log2(window) bits
    further right (``pre_t``)."""
    tin = graph.tensor(node.inputs[0])
    ta: FixedType = node.attrs.accum_type
    acc = FixedType(ta.width - shift, ta.integer, ta.signed)   # the sum at the input's fraction
    return {**elementwise_context(graph, node, target), "mode": node.attrs.mode,
            "n_chan": int(tin.shape[-1]), "n_pos": len(win), "n_win": len(win[0]),
            "win": [", ".join(str(int(p)) for p in row) for row in win], "shift": shift,
            "acc_t": hls_type(acc), "acc_width": acc.width, "acc_desc": str(acc),
            "pre_t": hls_type(FixedType(acc.width, acc.integer - shift, ta.signed)),
            "size": "x".join(str(k) for k in node.attrs.pool_size), "stride": "x".join(str(k) for k in node.attrs.stride)}


def window_pool_int(graph: Graph, node: Node, shift: int) -> Ctx:
    tin = graph.tensor(node.inputs[0]).type
    return {"kind": "pool", "cast": int_cast(tin.frac + shift, graph.tensor(node.outputs[0]).type)}
