"""Backend contexts of the merge ops (``add``, ``concat``: :mod:`hwai.ops.add`, :mod:`hwai.ops.concat`):
nodes with several inputs. The op module passes its semantics in (each input's shift onto the
sum's fraction; each output element's source); here they become plain template data, Verilog
signals and hls4ml layer dicts, one function per backend.

Native op-template contract for a node with K inputs: ``fn(const t0 x0[n0], ..., out_t y[n_out])``
(the inputs in node order, as :func:`hwai.codegen.context.build_context` passes them).
"""

from __future__ import annotations

from typing import Any

from hwai.codegen.context import _fn, _typed
from hwai.codegen.hlstypes import hls_type
from hwai.codegen.native_int import _bits, _check_bits, int_cast
from hwai.codegen.verilog_context import Layer, Sig, add_cast, cast_interval, ident
from hwai.errors import UnsupportedLayerError
from hwai.ir.graph import Graph, Node
from hwai.ir.numeric import signed_bits
from hwai.target import Target

Ctx = dict[str, Any]


def _inputs(graph: Graph, node: Node) -> list[Ctx]:
    """One entry per node input: its C parameter name, HLS type, size and type text."""
    return [{"x": f"x{k}", "t": hls_type(_typed(graph.tensor(t))), "size": graph.tensor(t).size,
             "desc": str(graph.tensor(t).type)} for k, t in enumerate(node.inputs)]


def _common(graph: Graph, node: Node) -> Ctx:
    out = graph.tensor(node.outputs[0])
    ins = _inputs(graph, node)
    return {"fn": _fn(node), "node": node.name, "ins": ins, "out_t": hls_type(_typed(out)),
            "n_in": sum(i["size"] for i in ins), "n_out": out.size, "out_desc": str(out.type)}


# --- native HLS (ap_fixed) -----------------------------------------------------------

def add_context(graph: Graph, node: Node, target: Target, shifts: list[int]) -> Ctx:
    """``y[i] = x0[i] + x1[i] + ...``: ap_fixed addition is exact (its result type grows),
    so the only rounding/overflow is the assignment to ``out_t``."""
    return {**_common(graph, node), "sum": " + ".join(f"x{k}[i]" for k in range(len(node.inputs)))}


def concat_context(graph: Graph, node: Node, target: Target, sources: list[tuple[int, int]]) -> Ctx:
    """One assignment (a cast into ``out_t``) per output element, from its source element."""
    return {**_common(graph, node), "moves": [{"j": j, "src": f"x{k}[{i}]"} for j, (k, i) in enumerate(sources)]}


# --- native integer C simulation -------------------------------------------------------

def add_int(graph: Graph, node: Node, frac: int) -> Ctx:
    """Codes times 2**shift onto fraction ``frac``, summed in int64, then one cast."""
    tout = graph.tensor(node.outputs[0]).type
    terms = []
    for k, t in enumerate(node.inputs):
        tt = graph.tensor(t).type
        _check_bits(node, _bits(tt) + frac - tt.frac + len(node.inputs), "aligned sum")
        terms.append(f"x{k}[i] * {1 << (frac - tt.frac)}LL")
    return {"kind": "add", "sum": " + ".join(terms), "cast": int_cast(frac, tout)}


def concat_int(graph: Graph, node: Node, sources: list[tuple[int, int]]) -> Ctx:
    tout = graph.tensor(node.outputs[0]).type
    casts = [int_cast(graph.tensor(t).type.frac, tout) for t in node.inputs]
    return {"kind": "concat", "moves": [{"j": j, "cast": casts[k], "src": f"x{k}[{i}]"}
                                        for j, (k, i) in enumerate(sources)]}


# --- Verilog ---------------------------------------------------------------------------

def split(graph: Graph, node: Node, xs: list[Sig]) -> list[list[Sig]]:
    """The node's input signals (concatenated in input order by the emitter) per input."""
    out, a = [], 0
    for t in node.inputs:
        n = graph.tensor(t).size
        out.append(xs[a:a + n])
        a += n
    return out


def add_layer(graph: Graph, node: Node, xs: list[Sig], shifts: list[int]) -> tuple[Layer, list[Sig]]:
    """Per element one wire holding the exact aligned sum, then ``hwai_cast`` into the output."""
    tout = graph.tensor(node.outputs[0]).type
    parts = split(graph, node, xs)
    frac = parts[0][0].frac + shifts[0] if parts[0] else 0
    layer, outs = Layer(ident(node.name), "add"), []
    for i in range(graph.tensor(node.outputs[0]).size):
        terms = [(p[i], s) for p, s in zip(parts, shifts)]
        lo = sum(x.lo << s for x, s in terms)
        hi = sum(x.hi << s for x, s in terms)
        s = Sig(f"{layer.name}_s{i}", signed_bits(lo, hi), lo, hi, frac)
        expr = " + ".join(f"({x.name} <<< {k})" if k else x.name for x, k in terms)
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": expr})
        outs.append(add_cast(layer, s, tout, f"{ident(node.outputs[0])}_{i}", *cast_interval(s, tout)))
    return layer, outs


def concat_layer(graph: Graph, node: Node, xs: list[Sig], sources: list[tuple[int, int]]) -> tuple[Layer, list[Sig]]:
    """Each output element is its source element cast into the output type (wiring when exact)."""
    tout = graph.tensor(node.outputs[0]).type
    parts = split(graph, node, xs)
    layer = Layer(ident(node.name), "concat")
    outs = [add_cast(layer, parts[k][i], tout, f"{ident(node.outputs[0])}_{j}", *cast_interval(parts[k][i], tout))
            for j, (k, i) in enumerate(sources)]
    return layer, outs


# --- hls4ml -----------------------------------------------------------------------------

def merge_dict(graph: Graph, layer: Any, class_name: str, **attrs: Any) -> dict[str, Any]:
    """hls4ml's merge-layer dict (``parse_merge_layer``); hls4ml merges exactly two tensors.
    ``inputs`` are filled by :func:`hwai.codegen.hls4ml_layers.layer_list`."""
    if len(layer.node.inputs) != 2:
        raise UnsupportedLayerError(f"node {layer.name!r}: hls4ml's {class_name} takes two inputs, not "
                                    f"{len(layer.node.inputs)}; merge them pairwise or use the native/Verilog backends")
    return {"name": layer.name, "class_name": class_name, "data_format": "channels_last", **attrs}
