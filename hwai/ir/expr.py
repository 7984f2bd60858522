"""The ``expr`` op: symbolic expressions as a typed, integer-exact instruction program.

A symbolic-regression model (Tsoi et al. 2023, "Symbolic Regression on FPGAs for
Fast Machine Learning Inference") is a handful of closed-form expressions, one per
class logit. hwai stores them as one ``expr`` node whose ``attrs`` hold:

``program``  list of instructions (dicts), topologically ordered; instruction ``k``
             defines value ``v_k``. Every non-input instruction carries its result
             ``type`` (a :class:`FixedType`); the result is always
             ``requantize(exact_result, exact_frac, type)`` — exactly what assigning
             an ``ap_fixed`` expression to a variable of that type does in C++.

             ========  ================================================================
             ``input``  ``index``: element of the input vector (type: the input tensor's)
             ``const``  ``code``: the stored integer of ``type``
             ``add``    ``args [a, b]``: v_a + v_b (exact sum, then cast)
             ``sub``    ``args [a, b]``: v_a - v_b
             ``mul``    ``args [a, b]``: v_a * v_b (exact product, then cast)
             ``neg``    ``args [a]``: -v_a
             ``lut``    ``args [a]``, ``func`` (name, for humans), ``table`` (index into
                        ``tables``), ``lo`` (argument code where the table starts),
                        ``shift``: entry = tables[table][clamp((q_a - lo) >> shift, 0, N-1)]
                        — the table index is the top bits of the argument offset, so the
                        hardware is one subtraction, a bit select and a ROM.
             ========  ================================================================
``tables``   list of int64 arrays: LUT contents as integer codes of the LUT's ``type``,
             so the golden model and the generated C++ read the very same numbers.
``outputs``  instruction index per output element; each is cast into the output
             tensor's type.

Everything is ints, strings, FixedTypes and int arrays, so :meth:`Graph.save` /
:meth:`Graph.load` round-trip it. Construction from sympy lives in
:mod:`hwai.symbolic.to_ir`; this module only defines the semantics.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hwai.ir.graph import Graph, IRError, Node
from hwai.ir.numeric import ScalarInterval, cast_interval_scalar, type_for_range
from hwai.ir.types import INT64_SAFE_BITS, FixedType, requantize

IntArray = np.ndarray
Instr = Mapping[str, Any]

BINARY = ("add", "sub", "mul")
UNARY = ("neg", "lut")
INSTR_OPS = ("input", "const") + BINARY + UNARY
# Widest intermediate accepted: constants and LUT entries are printed as C++ double
# literals, exact only up to 53 significant bits.
MAX_WIDTH = 53


# --- types --------------------------------------------------------------------

def program_types(graph: Graph, node: Node) -> list[FixedType]:
    """The FixedType of every instruction's value (inputs take the input tensor's type)."""
    tin = graph.tensor(node.inputs[0]).type
    if tin is None:
        raise IRError(f"node {node.name!r}: expr input {node.inputs[0]!r} has no type")
    return [tin if ins["op"] == "input" else ins["type"] for ins in node.attrs["program"]]


def exact_interval(ins: Instr, args: Sequence[ScalarInterval],
                   tables: Sequence[np.ndarray] = ()) -> ScalarInterval:
    """Interval of an instruction's *exact* result, before the cast into its type.

    Used twice: by :func:`interval_node`, and by the builder to derive exact widths
    (da4ml's habit: widths follow from intervals, never guessed).
    """
    op = ins["op"]
    if op == "const":
        return int(ins["code"]), int(ins["code"]), ins["type"].frac
    if op == "neg":
        lo, hi, f = args[0]
        return -hi, -lo, f
    if op == "lut":
        return _lut_interval(ins, args[0], tables[ins["table"]])
    (alo, ahi, fa), (blo, bhi, fb) = args
    if op == "mul":
        prods = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        if ins["args"][0] == ins["args"][1]:  # a square is never negative
            return (0 if alo <= 0 <= ahi else min(prods)), max(prods), fa + fb
        return min(prods), max(prods), fa + fb
    f = max(fa, fb)
    alo, ahi, blo, bhi = alo << (f - fa), ahi << (f - fa), blo << (f - fb), bhi << (f - fb)
    if op == "add":
        return alo + blo, ahi + bhi, f
    if op == "sub":
        return alo - bhi, ahi - blo, f
    raise IRError(f"expr: unknown instruction op {op!r} (known: {', '.join(INSTR_OPS)})")


def _lut_interval(ins: Instr, arg: ScalarInterval, table: np.ndarray) -> ScalarInterval:
    """The index is monotone in the argument, so only entries between the ends are reachable."""
    i0, i1 = lut_index(np.array([arg[0], arg[1]], dtype=object), ins, len(table))
    seg = table[int(i0):int(i1) + 1]
    return int(seg.min()), int(seg.max()), ins["type"].frac


def exact_type(iv: ScalarInterval, cap: FixedType | None = None) -> FixedType:
    """Smallest type holding ``iv`` exactly; if wider than ``cap.width``, the cap applies.

    Capping keeps ``cap.width`` bits with at most ``cap.integer`` integer bits (fewer
    when the exact range needs fewer, so the spare bits go to the fraction), rounding
    and overflow of the cap.
    """
    t = portable(type_for_range(iv[0], iv[1], iv[2]))
    if cap is None or t.width <= cap.width:
        return t
    integer = min(t.integer, cap.integer)
    return FixedType(cap.width, integer, t.signed, cap.rounding, cap.overflow)


def portable(t: FixedType) -> FixedType:
    """Widen types like ap_fixed<4,-2> to a non-negative integer part: portable C++."""
    need = (1 if t.signed else 0) - t.integer
    return t if need <= 0 else FixedType(t.width + need, t.integer + need, t.signed,
                                          t.rounding, t.overflow)


# --- golden evaluation --------------------------------------------------------

def lut_index(q: IntArray, ins: Instr, size: int) -> IntArray:
    """Table index of argument codes ``q``: top bits of ``q - lo``, clamped to the table."""
    d = (q - int(ins["lo"])) >> int(ins["shift"])
    return np.minimum(np.maximum(d, 0), size - 1)


def evaluate_node(graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
    """Golden integer evaluation of an ``expr`` node; ``xs[0]`` is (batch, n_in) codes."""
    x = np.asarray(xs[0])
    types = program_types(graph, node)
    tables = node.attrs["tables"]
    vals: list[IntArray] = []
    for ins in node.attrs["program"]:
        vals.append(_eval_instr(ins, x, vals, types, tables))
    tout = graph.tensor(node.outputs[0]).type
    out = [requantize(vals[k], types[k].frac, tout) for k in node.attrs["outputs"]]
    return [np.stack(out, axis=1) if out else np.zeros((x.shape[0], 0), dtype=np.int64)]


def _eval_instr(ins: Instr, x: IntArray, vals: list[IntArray], types: list[FixedType],
                tables: Sequence[np.ndarray]) -> IntArray:
    op = ins["op"]
    if op == "input":
        return x[:, int(ins["index"])].astype(np.int64)
    t: FixedType = ins["type"]
    if op == "const":
        return np.full(x.shape[0], int(ins["code"]), dtype=np.int64)
    a = vals[ins["args"][0]]
    fa = types[ins["args"][0]].frac
    if op == "neg":
        return requantize(-_wide(a, types[ins["args"][0]].width + 1), fa, t)
    if op == "lut":
        table = np.asarray(tables[ins["table"]], dtype=np.int64)
        return table[lut_index(a, ins, len(table)).astype(np.int64)]
    b, tb = vals[ins["args"][1]], types[ins["args"][1]]
    ta = types[ins["args"][0]]
    if op == "mul":
        a, b = _wide(a, ta.width + tb.width), _wide(b, ta.width + tb.width)
        return requantize(a * b, ta.frac + tb.frac, t)
    f = max(ta.frac, tb.frac)
    bits = max(ta.integer, tb.integer) + f + 2
    a, b = _wide(a, bits) << (f - ta.frac), _wide(b, bits) << (f - tb.frac)
    return requantize(a + b if op == "add" else a - b, f, t)


def _wide(q: IntArray, bits: int) -> IntArray:
    """Python-int arrays when an exact intermediate could leave int64."""
    return q.astype(object) if bits > INT64_SAFE_BITS else q


# --- interval analysis --------------------------------------------------------

def program_intervals(program: Sequence[Instr], types: Sequence[FixedType],
                      tables: Sequence[np.ndarray],
                      inputs: Sequence[ScalarInterval]) -> list[ScalarInterval]:
    """Cast interval of every instruction's value, given one interval per input element."""
    ivs: list[ScalarInterval] = []
    for k, ins in enumerate(program):
        if ins["op"] == "input":
            ivs.append(inputs[int(ins["index"])])
            continue
        ex = exact_interval(ins, [ivs[a] for a in ins.get("args", [])], tables)
        ivs.append(cast_interval_scalar(ex, types[k]))
    return ivs


def interval_node(graph: Graph, node: Node, env: dict) -> None:
    """Set ``env[output] = (qlo, qhi, frac)`` per output element (object arrays of ints)."""
    xlo, xhi, fx = env[node.inputs[0]]
    tin = graph.tensor(node.inputs[0]).type
    inputs = [cast_interval_scalar((int(lo), int(hi), fx), tin.exact()) for lo, hi in zip(xlo, xhi)]
    types = program_types(graph, node)
    ivs = program_intervals(node.attrs["program"], types, node.attrs["tables"], inputs)
    tout = graph.tensor(node.outputs[0]).type
    outs = [cast_interval_scalar(ivs[k], tout) for k in node.attrs["outputs"]]
    env[node.outputs[0]] = (np.array([o[0] for o in outs], dtype=object),
                            np.array([o[1] for o in outs], dtype=object), tout.frac)


# --- checks -------------------------------------------------------------------

def validate_node(graph: Graph, node: Node) -> None:
    """Structural checks: argument order, table references, widths C++ can print exactly."""
    prog, tables = node.attrs["program"], node.attrs["tables"]
    n_in = graph.tensor(node.inputs[0]).size
    for k, ins in enumerate(prog):
        if ins["op"] not in INSTR_OPS:
            raise IRError(f"node {node.name!r} instr {k}: unknown op {ins['op']!r}")
        if any(not 0 <= a < k for a in ins.get("args", [])):
            raise IRError(f"node {node.name!r} instr {k}: arguments must precede it")
        if ins["op"] == "input" and not 0 <= int(ins["index"]) < n_in:
            raise IRError(f"node {node.name!r} instr {k}: input index {ins['index']} >= {n_in}")
        if ins["op"] != "input" and ins["type"].width > MAX_WIDTH:
            raise IRError(f"node {node.name!r} instr {k}: {ins['type']} wider than "
                          f"{MAX_WIDTH} bits; set a precision cap")
        if ins["op"] == "lut" and not 0 <= int(ins["table"]) < len(tables):
            raise IRError(f"node {node.name!r} instr {k}: no table {ins['table']}")
    if len(node.attrs["outputs"]) != graph.tensor(node.outputs[0]).size:
        raise IRError(f"node {node.name!r}: {len(node.attrs['outputs'])} outputs for "
                      f"tensor of size {graph.tensor(node.outputs[0]).size}")


def op_counts(node: Node) -> dict[str, int]:
    """Instruction counts by op (a crude cost proxy used when no estimator is present)."""
    counts: dict[str, int] = {}
    for ins in node.attrs["program"]:
        counts[ins["op"]] = counts.get(ins["op"], 0) + 1
    return dict(sorted(counts.items()))
