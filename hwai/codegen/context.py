"""IR graph -> the plain, JSON-able context the native templates render.

Every number, type string, C identifier and table row is prepared here; templates
only loop and branch. Each op's context comes from its ``native`` hook (:mod:`hwai.ops`).

Op-template contract (what ``hwai/templates/native/ops/<op>.h.j2`` receives): the op
context's keys as top-level variables; it must define a function ``fn(const in_t
x[n_in], out_t y[n_out])`` where ``fn``, ``n_in``, ``n_out`` are keys of that context.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwai.codegen.da import Program, layer_program, uses_da
from hwai.codegen.hlstypes import ap_int_type, hls_type
from hwai.errors import HwaiError, UnsupportedLayerError
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.numeric import accum_is_modular
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType
from hwai.names import identifier, unique_identifiers
from hwai.target import Target

# Weights and biases are printed as C++ double literals: exact only up to 53 bits.
MAX_LITERAL_BITS = 53
# I/O codes travel as int64 through ctypes and the vector files.
MAX_IO_BITS = 62
TEMPLATE_DIR = "native"

Ctx = dict[str, Any]


def build_context(graph: Graph, target: Target) -> Ctx:
    """The whole project's context: target, typedefs, ports, buffers and layers."""
    graph.validate()
    names = _names(graph)
    layers = [_layer(graph, node, target, names) for node in graph.nodes]
    inputs = _ports(graph, graph.inputs, names)
    outputs = _ports(graph, graph.outputs, names)
    io = set(graph.inputs) | set(graph.outputs)
    return {
        "project": target.project_name,
        "guard": identifier(target.project_name).upper() + "_H_",
        "target": _target(target),
        "typedefs": _tensor_typedefs(graph, names) + [t for l in layers for t in l["typedefs"]],
        "inputs": inputs,
        "outputs": outputs,
        "buffers": [_tensor(graph.tensor(t), names) for n in graph.nodes for t in n.outputs
                    if t not in io],
        "layers": layers,
        "signature": ", ".join([f"const {p['ctype']} {p['cname']}[{p['size']}]" for p in inputs]
                               + [f"{p['ctype']} {p['cname']}[{p['size']}]" for p in outputs]),
        "ports": ",".join(p["cname"] for p in inputs + outputs),
        "ii": max([l["reuse_factor"] for l in layers] + [1]),
        "n_in_codes": sum(p["size"] for p in inputs),
        "n_out_codes": sum(p["size"] for p in outputs),
    }


# --- names --------------------------------------------------------------------

def _names(graph: Graph) -> dict[str, str]:
    """IR tensor name -> unique C identifier; node function names must not collide."""
    out = unique_identifiers(list(graph.inputs) + [t for n in graph.nodes for t in n.outputs])
    clash = sorted(set(out.values()) & {_fn(n) for n in graph.nodes})
    if clash:
        raise HwaiError(f"graph {graph.name!r}: tensor name(s) {', '.join(clash)} collide with "
                        "generated layer function names; rename them")
    return out


def _fn(node: Node) -> str:
    return f"{node.op}_{identifier(node.name)}"  # same scheme as the expr op's context


# --- tensors and ports -------------------------------------------------------

def _tensor(t: Tensor, names: dict[str, str]) -> Ctx:
    ft = _typed(t)
    return {"name": t.name, "cname": names[t.name], "ctype": names[t.name] + "_t",
            "hls": hls_type(ft), "size": t.size, "shape": list(t.shape),
            "width": ft.width, "frac": ft.frac, "signed": ft.signed, "desc": str(ft)}


def _typed(t: Tensor) -> FixedType:
    if t.type is None:
        raise HwaiError(f"tensor {t.name!r} has no fixed-point type; run hwai.passes.infer_precision")
    return t.type


def _ports(graph: Graph, tensors: tuple[str, ...], names: dict[str, str]) -> list[Ctx]:
    """Top-level ports with their offset into the flat int64 code rows (tb, ctypes)."""
    ports, offset = [], 0
    for name in tensors:
        p = _tensor(graph.tensor(name), names)
        if p["width"] > MAX_IO_BITS:
            raise HwaiError(f"port {name!r}: {p['width']}-bit codes exceed the {MAX_IO_BITS}-bit "
                            "limit of hwai's int64 test vectors")
        p["offset"], offset = offset, offset + p["size"]
        p["code_t"] = ap_int_type(p["width"], p["signed"])
        ports.append(p)
    return ports


def _tensor_typedefs(graph: Graph, names: dict[str, str]) -> list[Ctx]:
    order = list(graph.inputs) + [t for n in graph.nodes for t in n.outputs]
    return [{"name": names[t] + "_t", "hls": hls_type(_typed(graph.tensor(t))),
             "comment": f"tensor {t}, shape {tuple(graph.tensor(t).shape)}"} for t in order]


def _target(target: Target) -> Ctx:
    return {"part": target.part, "clock_period_ns": _num(target.clock_period_ns),
            "clock_mhz": _num(target.clock_mhz), "flavour": target.flavour,
            "io_type": target.io_type}


def _num(x: float) -> str:
    """Short, stable text for a float setting (5.0 -> '5', 3.3333 -> '3.333')."""
    return f"{x:.4g}"


# --- layers ------------------------------------------------------------------

def _layer(graph: Graph, node: Node, target: Target, names: dict[str, str]) -> Ctx:
    """Common per-layer data plus the op's own context (rendered by its template)."""
    check_rank1(graph, node, "native HLS")
    op_ctx = op_of(node).native(graph, node, target)
    rf = int(node.impl.get("reuse_factor", 1))
    args = [names[t] for t in node.inputs] + [names[t] for t in node.outputs]
    return {"name": node.name, "op": node.op, "fn": op_ctx["fn"], "ctx": op_ctx,
            "template": f"{TEMPLATE_DIR}/ops/{op_ctx.get('template', node.op)}.h.j2",
            "header": f"layers/{op_ctx['fn']}.h", "guard": op_ctx["fn"].upper() + "_H_",
            "args": ", ".join(args), "reuse_factor": rf,
            "typedefs": op_ctx.get("typedefs", [])}


def _io(graph: Graph, node: Node) -> tuple[Tensor, Tensor]:
    return graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])


def check_rank1(graph: Graph, node: Node, backend: str) -> None:
    """Shaped tensors reach only the emitters the op declares (``Op.shaped``)."""
    if backend in op_of(node).shaped:
        return
    for t in (*node.inputs, *node.outputs):
        if len(graph.tensor(t).shape) != 1:
            raise UnsupportedLayerError(f"node {node.name!r}: tensor {t!r} has shape "
                                        f"{graph.tensor(t).shape}; the {backend} emitter supports "
                                        "only rank-1 (flat) tensors so far")


def elementwise_context(graph: Graph, node: Node, target: Target) -> Ctx:
    """A cast op (relu, quant, ...): per-element cast into the output type."""
    tin, tout = _io(graph, node)
    return {"fn": _fn(node), "node": node.name, "in_t": hls_type(_typed(tin)),
            "out_t": hls_type(_typed(tout)), "n_in": tin.size, "n_out": tout.size,
            "in_desc": str(tin.type), "out_desc": str(tout.type)}


def dense_context(graph: Graph, node: Node, target: Target) -> Ctx:
    """Sparse tables of a fully unrolled dense layer: nonzero (input, weight) per neuron.

    Zero weights are dropped here, so they emit no table entry and no multiplier.
    Rows are padded to a common length with guarded entries because HLS unrolls a
    constant-trip loop reliably, while a data-dependent trip count would not unroll.
    """
    tin, tout = _io(graph, node)
    w = np.asarray(node.attrs.weight, dtype=np.int64)
    a = node.attrs
    n_rows = dense_rows(graph, node)
    tw, tb, ta = a.weight_type, a.bias_type, a.accum_type
    if tw is None or tb is None or ta is None:
        raise HwaiError(f"dense node {node.name!r} lacks weight/bias/accum types; "
                        "run hwai.passes.infer_precision first")
    _check_literal(node, "weight", tw)
    _check_literal(node, "bias", tb)
    fn = _fn(node)
    rows = [_row(j, w[:, j], tw) for j in range(w.shape[1])]
    max_terms = max([len(r["idx"]) for r in rows] + [1])
    for r in rows:
        _pad(r, max_terms)
    nnz = int(np.count_nonzero(w))
    rf = int(node.impl.get("reuse_factor", 1))
    da = da_context(graph, node) if uses_da(graph, node) else {}
    return {**da,
        "fn": fn, "node": node.name, "n_in": tin.size // n_rows, "n_out": tout.size // n_rows,
        "n_rows": n_rows, "in_t": hls_type(_typed(tin)), "out_t": hls_type(_typed(tout)),
        "weight_t": fn + "_weight_t", "bias_t": fn + "_bias_t", "accum_t": fn + "_accum_t",
        "typedefs": [{"name": f"{fn}_{k}_t", "hls": hls_type(t), "comment": f"{node.name} {k}"}
                     for k, t in (("weight", tw), ("bias", tb), ("accum", ta))],
        "rows": rows, "row_nnz": [str(r["nnz"]) for r in rows], "max_terms": max_terms,
        "nnz": nnz, "n_weights": int(w.size),
        "zero_pct": f"{100.0 * (1 - nnz / max(w.size, 1)):.1f}",
        "bias": _literals(np.asarray(node.attrs.bias, dtype=np.int64), tb),
        "bias_codes": [str(int(q)) for q in np.asarray(node.attrs.bias, dtype=np.int64)],
        "cast_products": not accum_is_modular(ta, _typed(tin).frac + tw.frac, tb.frac),
        "reuse_factor": rf, "pragmas": _reuse_pragmas(rf, nnz, target),
        "accum_desc": str(ta), "weight_desc": str(tw),
    }


def pool_context(graph: Graph, node: Node, target: Target) -> Ctx:
    """global_pool: the exact sum/max in the input's grid (``acc_t``), then for avg the same
    bits reinterpreted ``shift`` = log2(P) bits further right (``pre_t``), then the output cast."""
    tin, tout = _io(graph, node)
    ta: FixedType = node.attrs.accum_type
    shift = (tin.size // tout.size).bit_length() - 1 if node.attrs.mode == "avg" else 0
    acc = FixedType(ta.width - shift, ta.integer, ta.signed)   # the sum at the input's fraction
    return {**elementwise_context(graph, node, target), "mode": node.attrs.mode, "n_rows": tin.size // tout.size,
            "n_out": tout.size, "shift": shift, "acc_t": hls_type(acc), "acc_width": acc.width,
            "pre_t": hls_type(FixedType(acc.width, acc.integer - shift, ta.signed)), "acc_desc": str(acc)}


def dense_rows(graph: Graph, node: Node) -> int:
    """Rows a dense maps with the same weights (P for a per-particle dense on (P, F), else 1)."""
    return graph.tensor(node.inputs[0]).size // int(node.attrs.weight.shape[0])


def _row(j: int, col: np.ndarray, tw: FixedType) -> Ctx:
    idx = np.flatnonzero(col)  # ascending input order == the interpreter's order
    return {"j": j, "nnz": int(idx.size), "idx": [str(int(i)) for i in idx],
            "w": _literals(col[idx], tw), "w_codes": [str(int(q)) for q in col[idx]]}


def _pad(row: Ctx, n: int) -> None:
    """Pad to ``n`` entries; the ``k < nnz`` guard keeps padding out of the arithmetic."""
    extra = n - len(row["idx"])
    row["idx"] = row["idx"] + ["0"] * extra
    row["w"] = row["w"] + ["0.0"] * extra
    row["w_codes"] = row["w_codes"] + ["0"] * extra


def _literals(codes: np.ndarray, t: FixedType) -> list[str]:
    """Exact double literals (``repr`` round-trips and C++ parses correctly rounded)."""
    return [repr(math.ldexp(float(int(q)), -t.frac)) for q in codes]


def _check_literal(node: Node, what: str, t: FixedType) -> None:
    if t.width > MAX_LITERAL_BITS:
        raise HwaiError(f"node {node.name!r}: {t.width}-bit {what} type exceeds the "
                        f"{MAX_LITERAL_BITS}-bit exact double literal limit")


def _reuse_pragmas(rf: int, nnz: int, target: Target) -> list[str]:
    """hls4ml-style resource sharing: at most ceil(nnz / rf) multipliers at II = rf."""
    if rf <= 1:
        return []
    limit = max(1, math.ceil(nnz / rf))
    if target.flavour == "vivado":  # Vivado HLS 2020.x spelling
        return [f"#pragma HLS ALLOCATION instances=mul limit={limit} operation"]
    return [f"#pragma HLS ALLOCATION operation instances=mul limit={limit}"]



# --- per-element (heterogeneous) quant ---------------------------------------------

def hetero_quant_context(graph: Graph, node: Node, target: Target, types: list[FixedType | None]) -> Ctx:
    """A quant whose element ``i`` has its own type ``types[i]`` (None: 0 bits, the
    constant 0): the cast op's context plus one cast per element. The element's
    ap_fixed conversion does the rounding/overflow; assigning it to ``out_t`` (the
    covering type, which holds every element type exactly) only moves it onto the
    common grid, as the golden model's ``requantize_elements`` does."""
    ctx = elementwise_context(graph, node, target)
    ctx["elements"] = [{"i": i, "cast": None if t is None else hls_type(t)} for i, t in enumerate(types)]
    return ctx


# --- dense as one distributed-arithmetic program (impl.arith = 'da') -------------------

def da_context(graph: Graph, node: Node) -> Ctx:
    """The layer's DA adder graph (:mod:`hwai.codegen.da`) as C++ statements over integer
    codes, one ``ap_int`` statement per adder, so the HLS tool builds the shared graph."""
    from hwai.passes.precision import intervals

    lo, hi, _ = intervals(graph)[node.inputs[0]]
    prog = layer_program(graph, node, lo, hi)
    tin = _typed(graph.tensor(node.inputs[0]))
    fn = _fn(node)
    v = [f"{fn}_v{k}" for k in range(len(prog.nodes))]
    stmts = [_da_statement(prog, k, v, tin, node.name) for k in range(len(prog.nodes))]
    outs = [_da_output(prog, k, e, v[k], j, fn) for j, (k, e) in enumerate(zip(prog.outputs, prog.out_exp))]
    return {"template": "dense_da", "da_stmts": stmts, "da_outs": outs,
            "da_adders": len(prog.adders()), "da_depth": prog.depth}


def _da_statement(prog: Program, k: int, v: list[str], tin: FixedType, name: str) -> str:
    """Node ``k``: an input's raw bits (sign- or zero-extended), a constant, or one adder;
    ap_int arithmetic wraps at the node's width, exact because its interval fits."""
    n = prog.nodes[k]
    w = n.width
    if n.kind == "in":
        w = tin.width + (0 if tin.signed else 1)
        return (f"ap_int<{w}> {v[k]} = 0; {v[k]}.range({tin.width - 1}, 0) = "
                f"x[{n.a}].range({tin.width - 1}, 0);")
    if n.kind == "const":
        if w > MAX_IO_BITS:
            raise HwaiError(f"node {name!r}: a {w}-bit bias constant exceeds the {MAX_IO_BITS}-bit "
                            "C++ literal limit of arith 'da'; use arith 'csd' for this layer")
        return f"const ap_int<{w}> {v[k]} = {n.code}LL;"
    a = f"ap_int<{w}>({v[n.a]})"
    if n.kind == "neg":
        return f"ap_int<{w}> {v[k]} = -{a};"
    b = f"ap_int<{w}>({v[n.b]})"
    op = "+" if n.kind == "add" else "-"
    return f"ap_int<{w}> {v[k]} = {_shl(a, n.sa)} {op} {_shl(b, n.sb)};"


def _shl(expr: str, k: int) -> str:
    return f"({expr} << {k})" if k else expr


def _da_output(prog: Program, k: int, e: int, v: str, j: int, fn: str) -> Ctx:
    """Output ``j``: node ``k``'s bits read as a fixed-point value at scale 2**e (no logic)."""
    n = prog.nodes[k]
    t = FixedType(n.width, n.width - (prog.fp - e))
    return {"j": j, "sum": f"{fn}_s{j}", "sum_t": hls_type(t), "hi": n.width - 1, "src": v}
