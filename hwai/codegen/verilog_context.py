"""Numeric preparation for the Verilog emitter: the graph becomes plain signal lists.

Every value inside the module is a *signed* wire (an unsigned ``W``-bit tensor element
is held as ``W+1`` signed bits) whose width follows from its exact integer interval
(:func:`hwai.passes.precision.intervals`), so adder trees never overflow and casts are
the only place where bits are dropped. Casts are instances of ``hwai_cast``, the Verilog
twin of :func:`hwai.ir.types.requantize` (all rounding and overflow modes).

A dense layer with a wrapping accumulator whose fractional bits cover the product's is
a sum that is exact modulo 2^W (:func:`hwai.ir.numeric.accum_is_modular`), so it is built as a
balanced adder tree of constant-multiply terms, optionally pipelined at tree levels.
Otherwise the layer follows hls4ml's order with a cast after every addition (a chain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from hwai.codegen.context import check_rank1
from hwai.codegen.da import Program, layer_program, uses_da
from hwai.estimate.cost import Coefficients
from hwai.estimate.rules_mult import csd, mult_kind
from hwai.ir.graph import Graph, Node
from hwai.ir.numeric import accum_is_modular, cast_interval_scalar, rtl_codes, signed_bits
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType
from hwai.names import identifier, prefix, unique_identifiers
from hwai.passes.pipeline import rename_tensors
from hwai.passes.precision import intervals

MULT_STYLES = ("csd", "mul")


@dataclass
class Sig:
    """A signed wire/reg of ``width`` bits, value interval ``lo..hi`` at ``frac`` bits."""

    name: str
    width: int
    lo: int
    hi: int
    frac: int


@dataclass
class Layer:
    """Everything one node emits, in declaration order, as plain data for the template."""

    name: str
    op: str
    # wires and casts in dependency order: {"kind": "wire", name, width, expr} or
    # {"kind": "cast", name, params, src, raw, rawwidth, dst, width, ext}
    body: list[dict] = field(default_factory=list)
    regs: list[dict] = field(default_factory=list)    # name, width, src (declared first)
    stages: int = 0


def ident(name: str) -> str:
    """The Verilog signal-name prefix of an IR name (:func:`hwai.names.prefix`); every
    signal is ``f"{prefix}_{suffix}"``, so a keyword like ``input`` stays a valid prefix."""
    return prefix(name)


def distinct_prefixes(graph: Graph) -> Graph:
    """The graph with tensor and node names that stay distinct as Verilog prefixes
    (``a.b`` and ``a_b`` would both give ``a_b_0``); names already clean are unchanged."""
    tensors = unique_identifiers(list(graph.inputs) + [t for n in graph.nodes for t in n.outputs], None)
    nodes = unique_identifiers([n.name for n in graph.nodes], None)
    g = rename_tensors(graph, {k: v for k, v in tensors.items() if k != v})
    return replace(g, nodes=tuple(replace(n, name=nodes[n.name]) for n in g.nodes))


def literal(v: int, width: int) -> str:
    """A sized signed Verilog literal (negative values via unary minus, which stays signed)."""
    return f"-{width}'sd{-v}" if v < 0 else f"{width}'sd{v}"


def cast_params(src: Sig, to: FixedType) -> dict[str, int]:
    return {"WI": src.width, "FI": src.frac, "WO": to.width, "FO": to.frac,
            "SO": int(to.signed), **rtl_codes(to)}


def add_cast(layer: Layer, src: Sig, to: FixedType, name: str, lo: int, hi: int) -> Sig:
    """Instance of hwai_cast; the result widened back into the signed representation."""
    width = to.width + (0 if to.signed else 1)
    layer.body.append({"kind": "cast", "name": name, "params": cast_params(src, to), "src": src.name,
                        "raw": f"{name}_raw", "rawwidth": to.width, "dst": name,
                        "width": width, "ext": "" if to.signed else "1'b0, "})
    return Sig(name, width, lo, hi, to.frac)


def cast_interval(sig: Sig, to: FixedType) -> tuple[int, int]:
    """Interval of ``cast(sig, to)``: the same rule as precision inference."""
    lo, hi, _ = cast_interval_scalar((sig.lo, sig.hi, sig.frac), to)
    return lo, hi


def element_sigs(tensor: str, lo, hi, t: FixedType) -> list[Sig]:
    w = t.width + (0 if t.signed else 1)
    return [Sig(f"{ident(tensor)}_{i}", w, int(a), int(b), t.frac) for i, (a, b) in enumerate(zip(lo, hi))]


# --- dense ---------------------------------------------------------------------


def dense_terms(node: Node, xs: list[Sig], j: int, fs: int, style: str,
                coeffs: Coefficients, x_bits: int) -> list[tuple[Sig, bool, str]]:
    """Leaves of neuron ``j``'s tree: (signal spec, negated?, expression), at ``fs`` frac bits."""
    w = np.asarray(node.attrs.weight, dtype=np.int64)[:, j]
    fp = xs[0].frac + node.attrs.weight_type.frac if xs else fs
    leaves = []
    for i, wi in enumerate(int(v) for v in w):
        kind = mult_kind(wi, x_bits, coeffs)
        if kind == "zero":
            continue
        x, sh = xs[i], fs - fp
        if kind == "dsp" or style == "mul":
            c = [wi * x.lo, wi * x.hi]
            lo, hi = min(c) << sh, max(c) << sh
            expr = f"({x.name} * {literal(wi, wi.bit_length() + 2)})"
            expr = f"{expr} <<< {sh}" if sh else expr
            leaves.append((Sig("", signed_bits(lo, hi), lo, hi, fs), False, expr))
            continue
        for k, s in csd(wi):
            lo, hi = x.lo << (k + sh), x.hi << (k + sh)
            expr = f"{x.name} <<< {k + sh}" if k + sh else x.name
            leaves.append((Sig("", signed_bits(lo, hi), lo, hi, fs), s < 0, expr))
    return leaves


def combine(a: tuple[Sig, bool], b: tuple[Sig, bool]) -> tuple[int, int, bool, str]:
    """Add two (value, negated) nodes without ever negating: -a + b == b - a."""
    (sa, na), (sb, nb) = a, b
    if na == nb:
        return sa.lo + sb.lo, sa.hi + sb.hi, na, f"{sa.name} + {sb.name}"
    if na:
        return sb.lo - sa.hi, sb.hi - sa.lo, False, f"{sb.name} - {sa.name}"
    return sa.lo - sb.hi, sa.hi - sb.lo, False, f"{sa.name} - {sb.name}"


def cut_levels(depth: int, stages: int) -> list[int]:
    """Tree level of each of the stages-1 inner registers, spread evenly (the last stage
    is the layer's output register). Shallow trees get several registers at one level,
    so every neuron of a layer has exactly ``stages`` registers (aligned outputs)."""
    return [round(s * depth / stages) for s in range(1, stages)]


def build_tree(layer: Layer, prefix: str, leaves, bias: int, fs: int, stages: int) -> Sig:
    """Balanced adder tree over the leaves (+ bias constant) with pipeline cuts."""
    nodes: list[tuple[Sig, bool]] = []
    for k, (s, neg, expr) in enumerate(leaves):
        s.name = f"{prefix}_l{k}"
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": expr})
        nodes.append((s, neg))
    if bias:
        s = Sig(f"{prefix}_b", signed_bits(bias, bias), bias, bias, fs)
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": literal(bias, s.width)})
        nodes.append((s, False))
    if not nodes:
        s = Sig(f"{prefix}_z", 1, 0, 0, fs)
        layer.body.append({"kind": "wire", "name": s.name, "width": 1, "expr": "1'sd0"})
        nodes.append((s, False))
    depth = int(np.ceil(np.log2(len(nodes)))) if len(nodes) > 1 else 0
    cuts, level = cut_levels(depth, stages), 0
    while True:
        for r in range(cuts.count(level)):
            nodes = [(_register(layer, s, f"{s.name}_q{r}"), n) for s, n in nodes]
        if len(nodes) == 1:
            break
        nxt = []
        for k in range(0, len(nodes) - 1, 2):
            lo, hi, neg, expr = combine(nodes[k], nodes[k + 1])
            s = Sig(f"{prefix}_t{level}_{k // 2}", signed_bits(lo, hi), lo, hi, fs)
            # keep: each 2-input add stays an adder on a carry chain (what Vivado builds);
            # without it Yosys merges the tree into one $macc compressor: measured 1.66x
            # the LUTs and 2x the run time on a 16x16 layer (docs/estimator.md)
            layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": expr,
                               "keep": True})
            nxt.append((s, neg))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes, level = nxt, level + 1
    root, neg = nodes[0]
    if neg:
        s = Sig(f"{prefix}_sum", signed_bits(-root.hi, -root.lo), -root.hi, -root.lo, fs)
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": f"-{root.name}"})
        return s
    return root


def _register(layer: Layer, s: Sig, name: str) -> Sig:
    layer.regs.append({"name": name, "width": s.width, "src": s.name})
    return Sig(name, s.width, s.lo, s.hi, s.frac)


def dense_layer(g: Graph, node: Node, xs: list[Sig], stages: int, style: str,
                coeffs: Coefficients) -> tuple[Layer, list[Sig]]:
    if uses_da(g, node):
        return da_dense_layer(g, node, xs, stages)
    ta: FixedType = node.attrs.accum_type
    tb: FixedType = node.attrs.bias_type
    tout = g.tensor(node.outputs[0]).type
    tx = g.tensor(node.inputs[0]).type
    fp = tx.frac + node.attrs.weight_type.frac
    bias = np.asarray(node.attrs.bias, dtype=np.int64)
    layer, outs = Layer(ident(node.name), "dense", stages=stages), []
    modular = accum_is_modular(ta, fp, tb.frac)
    fs = max(fp, tb.frac)
    n_in = int(node.attrs.weight.shape[0])
    # a per-particle dense: row r of the row-major input maps to outputs r*n_out.. (same weights)
    for k, (r, j) in enumerate((r, j) for r in range(len(xs) // n_in) for j in range(len(bias))):
        xr, pre = xs[r * n_in:(r + 1) * n_in], f"{layer.name}_{k}"
        if modular:
            leaves = dense_terms(node, xr, j, fs, style, coeffs, tx.width)
            acc = build_tree(layer, pre, leaves, int(bias[j]) << (fs - tb.frac), fs, stages)
            acc = add_cast(layer, acc, ta, f"{pre}_acc", *cast_interval(acc, ta))
        else:
            acc = _sequential(layer, node, xr, j, ta, tb, fp, pre)
            for s in range(stages - 1):  # chain: extra stages only delay (retiming material)
                acc = _register(layer, acc, f"{pre}_d{s}")
        out = add_cast(layer, acc, tout, f"{pre}_o", *cast_interval(acc, tout))
        outs.append(_register(layer, out, f"{ident(node.outputs[0])}_{k}"))
    return layer, outs


def _sequential(layer: Layer, node: Node, xs: list[Sig], j: int, ta: FixedType,
                tb: FixedType, fp: int, pre: str) -> Sig:
    """hls4ml order: acc = cast(b); acc = cast(acc + cast(x_i * w_ij)) for non-zero w."""
    b = int(node.attrs.bias[j])
    bs = Sig(f"{pre}_b", signed_bits(b, b), b, b, tb.frac)
    layer.body.append({"kind": "wire", "name": bs.name, "width": bs.width, "expr": literal(b, bs.width)})
    acc = add_cast(layer, bs, ta, f"{pre}_a0", *cast_interval(bs, ta))
    for i, wi in enumerate(int(v) for v in np.asarray(node.attrs.weight)[:, j]):
        if wi == 0:
            continue               # cast(acc + cast(0)) == acc: acc already has type ta
        x = xs[i]
        c = [wi * x.lo, wi * x.hi]
        p = Sig(f"{pre}_p{i}", signed_bits(min(c), max(c)), min(c), max(c), fp)
        layer.body.append({"kind": "wire", "name": p.name, "width": p.width,
                            "expr": f"{x.name} * {literal(wi, wi.bit_length() + 2)}"})
        pc = add_cast(layer, p, ta, f"{pre}_pc{i}", *cast_interval(p, ta))
        s = Sig(f"{pre}_s{i}", signed_bits(acc.lo + pc.lo, acc.hi + pc.hi), acc.lo + pc.lo,
                acc.hi + pc.hi, ta.frac)
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width, "expr": f"{acc.name} + {pc.name}"})
        acc = add_cast(layer, s, ta, f"{pre}_a{i + 1}", *cast_interval(s, ta))
    return acc


# --- dense as one distributed-arithmetic program (impl.arith = 'da') -----------------


def da_dense_layer(g: Graph, node: Node, xs: list[Sig], stages: int) -> tuple[Layer, list[Sig]]:
    """The layer's shared adder graph (:mod:`hwai.codegen.da`), one wire per adder, then
    per neuron the same casts as the tree form. Registers cut the graph at evenly spaced
    adder levels (:func:`cut_levels` of its depth); a value crossing k cuts is delayed k
    times, and every neuron reaches the output register after ``stages`` cycles."""
    ta: FixedType = node.attrs.accum_type
    tout = g.tensor(node.outputs[0]).type
    prog = layer_program(g, node, [x.lo for x in xs], [x.hi for x in xs])
    layer = Layer(ident(node.name), "dense", stages=stages)
    pipe = _DaPipe(layer, prog, cut_levels(prog.depth, stages))
    sigs: list[Sig] = []
    for k, n in enumerate(prog.nodes):   # dependency order: operands come first
        sigs.append(xs[n.a] if n.kind == "in" else _da_node(layer, prog, k, sigs, pipe))
    outs = []
    for j, (k, e) in enumerate(zip(prog.outputs, prog.out_exp)):
        acc = pipe.delay(sigs[k], prog.nodes[k].level, None)
        acc = Sig(acc.name, acc.width, acc.lo, acc.hi, prog.fp - e)   # a shift is only a new scale
        pre = f"{layer.name}_{j}"
        acc = add_cast(layer, acc, ta, f"{pre}_acc", *cast_interval(acc, ta))
        out = add_cast(layer, acc, tout, f"{pre}_o", *cast_interval(acc, tout))
        outs.append(_register(layer, out, f"{ident(node.outputs[0])}_{j}"))
    return layer, outs


class _DaPipe:
    """Delayed copies of signals, shared by every consumer that needs the same delay."""

    def __init__(self, layer: Layer, prog: Program, cuts: list[int]) -> None:
        self.layer, self.prog, self.cuts = layer, prog, cuts
        self.last = len(cuts)                  # stage of the outputs before their register
        self.copies: dict[tuple[str, int], Sig] = {}

    def stage(self, level: int) -> int:
        return sum(1 for c in self.cuts if c < level)

    def delay(self, s: Sig, level: int, to_level: int | None) -> Sig:
        """``s`` (made at ``level``) as seen at ``to_level`` (None: the last stage)."""
        n = (self.last if to_level is None else self.stage(to_level)) - self.stage(level)
        base = s.name
        for r in range(n):
            if (base, r) not in self.copies:
                self.copies[(base, r)] = _register(self.layer, s, f"{base}_q{r}")
            s = self.copies[(base, r)]
        return s


def _da_node(layer: Layer, prog: Program, k: int, sigs: list[Sig], pipe: _DaPipe) -> Sig:
    """Node ``k`` as a wire (an input is its element signal): a constant, or one
    add/sub/negation of left-shifted operands, as wide as its exact interval."""
    n = prog.nodes[k]
    name = f"{layer.name}_da{k}"
    if n.kind == "const":
        expr = literal(n.code, n.width)
    else:
        a = pipe.delay(sigs[n.a], prog.nodes[n.a].level, n.level)
        if n.kind == "neg":
            expr = f"-{a.name}"
        else:
            b = pipe.delay(sigs[n.b], prog.nodes[n.b].level, n.level)
            op = "+" if n.kind == "add" else "-"
            expr = f"{_shl(a.name, n.sa)} {op} {_shl(b.name, n.sb)}"
    # keep: one adder per wire on its own carry chain, as in build_tree
    layer.body.append({"kind": "wire", "name": name, "width": n.width, "expr": expr,
                       "keep": n.kind != "const"})
    return Sig(name, n.width, n.lo, n.hi, prog.frac(k))


def _shl(name: str, k: int) -> str:
    return f"({name} <<< {k})" if k else name


# --- elementwise -------------------------------------------------------------------


def elementwise_layer(g: Graph, node: Node, xs: list[Sig],
                      pre: Callable[[Layer, Sig, int], Sig]) -> tuple[Layer, list[Sig]]:
    """A cast op: ``pre`` adds the op's own wires for element i (relu's gating) and
    returns the signal that is cast into the output type."""
    tout = g.tensor(node.outputs[0]).type
    layer, outs = Layer(ident(node.name), node.op), []
    for i, x in enumerate(xs):
        src = pre(layer, x, i)
        name = f"{ident(node.outputs[0])}_{i}"
        outs.append(add_cast(layer, src, tout, name, *cast_interval(src, tout)))
    return layer, outs


def hetero_quant_layer(g: Graph, node: Node, xs: list[Sig],
                       types: list[FixedType | None]) -> tuple[Layer, list[Sig]]:
    """A quant whose element ``i`` has its own type ``types[i]``: one ``hwai_cast`` per
    element into that type, then a shift onto the output grid (None: the constant 0)."""
    tout = g.tensor(node.outputs[0]).type
    layer = Layer(ident(node.name), node.op)
    outs = [_element_cast(layer, x, t, tout, f"{ident(node.outputs[0])}_{i}")
            for i, (x, t) in enumerate(zip(xs, types))]
    return layer, outs


def _element_cast(layer: Layer, x: Sig, t: FixedType | None, tout: FixedType, name: str) -> Sig:
    """cast(x, t) moved onto ``tout``'s grid: exact, ``tout`` covers ``t``; None: width 0."""
    width = tout.width + (0 if tout.signed else 1)
    if t is None:
        layer.body.append({"kind": "wire", "name": name, "width": width, "expr": f"{width}'sd0"})
        return Sig(name, width, 0, 0, tout.frac)
    e = add_cast(layer, x, t, f"{name}_e", *cast_interval(x, t))
    sh = tout.frac - t.frac
    layer.body.append({"kind": "wire", "name": name, "width": width,
                       "expr": f"{e.name} <<< {sh}" if sh else e.name})
    return Sig(name, width, e.lo << sh, e.hi << sh, tout.frac)


# --- global pooling ---------------------------------------------------------------------


def pool_layer(g: Graph, node: Node, xs: list[Sig], stages: int) -> tuple[Layer, list[Sig]]:
    """global_pool: per channel an adder tree over the rows (avg: its root read ``shift``
    bits further right, no logic) or a compare-and-select chain (max), then the output cast."""
    ch = g.tensor(node.outputs[0]).size
    p = g.tensor(node.inputs[0]).size // ch   # (P, C) or (H, W, C): P positions per channel
    tout = g.tensor(node.outputs[0]).type
    shift = int(p).bit_length() - 1 if node.attrs.mode == "avg" else 0
    layer, outs = Layer(ident(node.name), "global_pool", stages=stages), []
    for c in range(ch):
        col = [xs[r * ch + c] for r in range(p)]
        outs.append(pool_window(layer, col, node.attrs.mode, shift, tout, stages, f"{layer.name}_{c}",
                                f"{ident(node.outputs[0])}_{c}"))
    return layer, outs


def pool_window(layer: Layer, col: list[Sig], mode: str, shift: int, tout: FixedType, stages: int,
                pre: str, out_name: str) -> Sig:
    """One pooled value: a max chain, or an adder tree read ``shift`` bits lower (avg), then the
    cast into ``tout`` and the output register (global and sliding-window pooling alike)."""
    if mode == "max":
        acc = _max_chain(layer, col, pre)
        for s in range(stages - 1):  # a chain: extra stages only delay
            acc = _register(layer, acc, f"{pre}_d{s}")
    else:
        leaves = [(Sig("", x.width, x.lo, x.hi, x.frac), False, x.name) for x in col]
        acc = build_tree(layer, pre, leaves, 0, col[0].frac, stages)
        acc = Sig(acc.name, acc.width, acc.lo, acc.hi, acc.frac + shift)
    out = add_cast(layer, acc, tout, f"{pre}_o", *cast_interval(acc, tout))
    return _register(layer, out, out_name)


def _max_chain(layer: Layer, col: list[Sig], pre: str) -> Sig:
    m = col[0]
    for r, x in enumerate(col[1:], 1):
        lo, hi = max(m.lo, x.lo), max(m.hi, x.hi)
        s = Sig(f"{pre}_m{r}", max(m.width, x.width), lo, hi, x.frac)
        layer.body.append({"kind": "wire", "name": s.name, "width": s.width,
                           "expr": f"({x.name} > {m.name}) ? {x.name} : {m.name}"})
        m = s
    return m


# --- whole graph ----------------------------------------------------------------------


def verilog_context(graph: Graph, stages: int | dict[str, int] = 1, style: str = "csd",
                    coeffs: Coefficients | None = None, module: str | None = None) -> dict:
    """The template context: ports, layers (wires/casts/regs), total pipeline depth.

    A graph with branches is scheduled as soon as possible: each tensor is ready ``lat``
    cycles after the inputs (the registers on its longest path); a node reading tensors of
    different readiness gets delay registers on the earlier ones (:func:`_aligned`), and
    every output is delayed to the latest, so all outputs are valid in the same cycle.
    """
    if style not in MULT_STYLES:
        raise ValueError(f"style {style!r} not one of {MULT_STYLES}")
    graph.validate()
    coeffs = coeffs or Coefficients.fitted()
    in_ports, out_ports = io_ports(graph)
    graph = distinct_prefixes(graph)
    iv = intervals(graph)
    env = {t: element_sigs(t, iv[t][0], iv[t][1], graph.tensor(t).type) for t in graph.inputs}
    lat = dict.fromkeys(graph.inputs, 0)
    layers: list[Layer] = []
    for node in graph.nodes:
        check_rank1(graph, node, "Verilog")
        ready = max(lat[t] for t in node.inputs)
        xs = [s for t in node.inputs for s in _aligned(layers, env, lat, t, ready)]
        n_st = stages.get(node.name, 1) if isinstance(stages, dict) else int(stages)
        layer, outs = op_of(node).verilog(graph, node, xs, max(1, n_st), style, coeffs)
        layers.append(layer)
        env[node.outputs[0]] = outs
        lat[node.outputs[0]] = ready + layer.stages
    latency = max(lat[t] for t in graph.outputs)
    outs = {t: _aligned(layers, env, lat, t, latency) for t in graph.outputs}
    tin, tout = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    return {
        "module": identifier(module or graph.name, "verilog"),
        "multi": len(in_ports) > 1 or len(out_ports) > 1,
        "in_ports": in_ports, "out_ports": out_ports,
        "in_elems": [e for p, t in zip(in_ports, graph.inputs) for e in _elems(env[t], p)],
        "out_elems": [e for p, t in zip(out_ports, graph.outputs) for e in _elems(outs[t], p)],
        "in_width": sum(p["width"] for p in in_ports), "out_width": sum(p["width"] for p in out_ports),
        "in_type": tin.type, "out_type": tout.type,
        "in_elem_width": tin.type.width, "out_elem_width": tout.type.width,
        "n_in": tin.size, "n_out": tout.size,
        "latency": latency,
        "layers": [vars(layer) for layer in layers], "style": style,
    }


def io_ports(graph: Graph) -> tuple[list[dict], list[dict]]:
    """The module's ports: one bus per graph input and output, named from the tensor
    (single-input single-output graphs keep ``in_data`` / ``out_data``); element i of a
    bus at bits [i*W, (i+1)*W) of its tensor's W-bit codes. ``offset``: where the bus
    sits in the flat vector of all inputs (outputs) laid end to end in graph order."""
    multi = len(graph.inputs) > 1 or len(graph.outputs) > 1
    names = unique_identifiers(list(graph.inputs) + list(graph.outputs), "verilog",
                               taken={"clk", "rst", "in_valid", "out_valid", "in_data", "out_data"})

    def ports(tensors: tuple[str, ...], flat: str) -> list[dict]:
        out, offset = [], 0
        for t in tensors:
            x = graph.tensor(t)
            out.append({"tensor": t, "port": names[t] if multi else flat, "elem_width": x.type.width,
                        "n": x.size, "width": x.size * x.type.width, "offset": offset,
                        "type": str(x.type), "signed": x.type.signed})
            offset += x.size * x.type.width
        return out
    return ports(graph.inputs, "in_data"), ports(graph.outputs, "out_data")


def _aligned(layers: list[Layer], env: dict, lat: dict, tensor: str, ready: int) -> list[Sig]:
    """``tensor``'s signals as seen in cycle ``ready`` (>= ``lat[tensor]``): one register per
    cycle of delay, made once per tensor and cycle and shared by every reader."""
    sigs = env[tensor]
    for c in range(lat[tensor] + 1, ready + 1):
        key = f"{tensor}@{c}"
        if key not in env:
            layer = Layer(f"{ident(tensor)}_at{c}", "delay")
            env[key] = [_register(layer, s, f"{ident(tensor)}_{i}_at{c}") for i, s in enumerate(sigs)]
            layers.append(layer)
        sigs = env[key]
    return sigs


def _elems(sigs: list[Sig], port: dict) -> list[dict]:
    ext = "" if port["signed"] else "1'b0, "
    w = port["elem_width"]
    return [{"sig": s.name, "width": s.width, "bus": port["port"], "lo": i * w, "hi": i * w + w - 1,
             "ext": ext, "tw": w} for i, s in enumerate(sigs)]
