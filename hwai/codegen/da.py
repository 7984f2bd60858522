"""Distributed arithmetic: a dense layer as one shared shift-add graph (``impl.arith='da'``).

A dense layer whose accumulator is modular (:func:`hwai.ir.numeric.accum_is_modular`)
computes an exact sum, so any order of additions gives its bits. Instead of one CSD adder
tree per neuron, the whole constant matrix-vector product is handed to da4ml's CMVM
optimizer (Sun et al., "da4ml: Distributed Arithmetic for Real-time Neural Networks on
FPGAs", TRETS 2025), which shares shifted partial sums across output neurons.

da4ml's answer is flattened here into a :class:`Program`: input codes, constants and
two-input adders of left-shifted operands, each with its exact integer interval (from
the node's coefficient vector over the input box, not from a chain of interval sums) and
known trailing zeros. Before anything is emitted the program is checked against the
layer's weights and biases with Python integers; a difference is an internal error
naming the node. The Verilog and native HLS emitters print the program, the estimator
(:mod:`hwai.estimate.rules_da`) prices it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hwai.ir.graph import Graph, Node
from hwai.ir.numeric import accum_is_modular, signed_bits

ARITH = ("csd", "da")
# da4ml solver settings, fixed so numba's on-disk cache of the compiled solver is reused
# (each new argument combination costs a ~100 s compile): 'wmc' is da4ml's default
# method; hard_dc=2 lets the shared graph be at most 2 adder levels deeper than the
# shallowest tree, which keeps the latency of the per-neuron trees within a level or two.
_SOLVER = {"method0": "wmc", "hard_dc": 2}
# float32 kernel: integer codes are exact up to 2**24
_MAX_WEIGHT_CODE = 1 << 24


@dataclass(frozen=True)
class DANode:
    """One value of the program: ``code * 2**exp`` in units of (input code x weight code).

    ``kind``: 'in' (input ``a``), 'const' (``code``), 'add'/'sub' (``(a << sa) +/- (b << sb)``),
    'neg' (``-a``). ``lo..hi`` is the exact interval of the code, ``tz`` its known trailing
    zero bits, ``level`` its adder depth.
    """

    kind: str
    a: int
    b: int
    sa: int
    sb: int
    exp: int
    lo: int
    hi: int
    tz: int
    level: int
    code: int = 0

    @property
    def width(self) -> int:
        return signed_bits(self.lo, self.hi)


@dataclass(frozen=True)
class Program:
    """The layer's adder graph (inputs first, then in dependency order) and, per output
    neuron, the node holding its biased sum."""

    nodes: tuple[DANode, ...]
    outputs: tuple[int, ...]
    out_exp: tuple[int, ...]  # output j is code(outputs[j]) * 2**out_exp[j] (a shift is wiring)
    fp: int                   # fractional bits of one unit (input frac + weight frac)

    def frac(self, k: int) -> int:
        """Fractional bits of node ``k``'s code."""
        return self.fp - self.nodes[k].exp

    @property
    def depth(self) -> int:
        return max((self.nodes[k].level for k in self.outputs), default=0)

    def adders(self) -> list[int]:
        return [k for k, n in enumerate(self.nodes) if n.kind in ("add", "sub", "neg")]

    def cone(self, outs: list[int]) -> set[int]:
        """Nodes the given output neurons depend on (what synthesis keeps for them)."""
        seen: set[int] = set()
        todo = [self.outputs[j] for j in outs]
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            n = self.nodes[k]
            todo += [i for i in (n.a, n.b) if n.kind in ("add", "sub", "neg") and i >= 0]
        return seen


def uses_da(graph: Graph, node: Node) -> bool:
    """Whether ``node`` is built as a DA program: it asks for it, its accumulator is
    modular (a saturating one needs hls4ml's order), it is fully unrolled, on a vector."""
    if node.impl.get("arith", "csd") != "da" or int(node.impl.get("reuse_factor", 1)) != 1:
        return False
    tx = graph.tensor(node.inputs[0])
    a = node.attrs
    return len(tx.shape) == 1 and accum_is_modular(a.accum_type, tx.type.frac + a.weight_type.frac,
                                                   a.bias_type.frac)


def layer_program(graph: Graph, node: Node, x_lo, x_hi) -> Program:
    """The checked DA program of dense ``node`` for inputs with code intervals ``x_lo..x_hi``."""
    w = np.asarray(node.attrs.weight, dtype=np.int64)
    if w.size and int(np.abs(w).max()) >= _MAX_WEIGHT_CODE:
        from hwai.errors import UnsupportedLayerError
        raise UnsupportedLayerError(f"node {node.name!r}: arith 'da' needs weight codes below 2^24 "
                                    "(da4ml's float32 kernel); use arith 'csd' for this layer")
    fx = graph.tensor(node.inputs[0]).type.frac
    key = (w.tobytes(), w.shape, tuple(int(v) for v in x_lo), tuple(int(v) for v in x_hi),
           np.asarray(node.attrs.bias, dtype=np.int64).tobytes(),
           fx + node.attrs.weight_type.frac, node.attrs.bias_type.frac)
    return _program(node.name, key)


@functools.lru_cache(maxsize=64)
def _program(name: str, key: tuple) -> Program:
    wb, shape, lo, hi, bb, fp, fb = key
    w = np.frombuffer(wb, dtype=np.int64).reshape(shape)
    # an input that is always 0 contributes nothing; da4ml drops its row from the
    # solution, so it is zeroed here and the check compares with the same kernel
    live = np.array([not (a == 0 and b == 0) for a, b in zip(lo, hi)], dtype=bool)
    kernel = np.where(live[:, None], w, 0)
    builder = _Builder(list(lo), list(hi))
    refs = builder.flatten(_solve(kernel, lo, hi))
    bias = np.frombuffer(bb, dtype=np.int64)
    outs = [builder.finish(r, int(b), fp - fb) for r, b in zip(refs, bias)]
    prog = Program(tuple(builder.nodes), tuple(k for k, _ in outs), tuple(e for _, e in outs), fp)
    _check(name, prog, builder.coefs, kernel, bias, fp - fb)
    return prog


def _solve(kernel: np.ndarray, lo: list[int], hi: list[int]):
    from da4ml.cmvm import QInterval, solve  # numba: loaded only when a layer asks for da
    q = [QInterval(float(a), float(b), 1.0) for a, b in zip(lo, hi)]
    return solve(kernel.astype(np.float32), qintervals=q, **_SOLVER)


# --- flattening da4ml's pipeline into one graph -----------------------------------------

# A reference to a value: (node, exp, neg) means (-1)**neg * code(node) * 2**exp; None is 0.
Ref = tuple[int, int, bool] | None


class _Builder:
    """Builds the nodes with their coefficient vectors (exact intervals, final check)."""

    def __init__(self, lo: list[int], hi: list[int]) -> None:
        self.lo, self.hi = np.array(lo, dtype=object), np.array(hi, dtype=object)
        self.nodes: list[DANode] = []
        self.coefs: list[tuple[np.ndarray, int]] = []   # (input coefficients, constant), at node exp
        for i in range(len(lo)):
            unit = np.zeros(len(lo), dtype=object)
            unit[i] = 1
            self._add(DANode("in", i, -1, 0, 0, 0, 0, 0, 0, 0), unit, 0)

    def _add(self, proto: DANode, coef: np.ndarray, const: int) -> int:
        """Append a node, its interval and trailing zeros from its coefficients."""
        lo = int(np.minimum(coef * self.lo, coef * self.hi).sum()) + const
        hi = int(np.maximum(coef * self.lo, coef * self.hi).sum()) + const
        tz = min([_tz(int(c)) for c in coef if c] + ([_tz(const)] if const else []), default=0)
        self.nodes.append(DANode(proto.kind, proto.a, proto.b, proto.sa, proto.sb, proto.exp,
                                 lo, hi, tz, proto.level, const if proto.kind == "const" else 0))
        self.coefs.append((coef, const))
        return len(self.nodes) - 1

    def const(self, code: int, exp: int) -> Ref:
        z = np.zeros(len(self.lo), dtype=object)
        return (self._add(DANode("const", -1, -1, 0, 0, exp, 0, 0, 0, 0), z, code), exp, False) if code else None

    def combine(self, x: Ref, y: Ref, sub: bool) -> Ref:
        """x + y (or x - y) as one adder that never negates an operand: -a + b == b - a."""
        if y is not None and sub:
            y = (y[0], y[1], not y[2])
        if x is None or y is None:
            return x if y is None else y
        if x[2] and not y[2]:
            x, y = y, x
        (ka, ea, na), (kb, eb, nb) = x, y
        e = min(ea, eb)
        sa, sb = ea - e, eb - e
        minus = na != nb
        # (building b - a with a negated reference when a has more trailing zeros shortens
        # the carry chains on paper, but measured +2 % Yosys LUTs on the jet MLP: not done)
        (ca, a0), (cb, b0) = self.coefs[ka], self.coefs[kb]
        coef = (ca * (1 << sa)) - (cb * (1 << sb)) if minus else (ca * (1 << sa)) + (cb * (1 << sb))
        const = (a0 << sa) - (b0 << sb) if minus else (a0 << sa) + (b0 << sb)
        level = max(self.nodes[ka].level, self.nodes[kb].level) + 1
        k = self._add(DANode("sub" if minus else "add", ka, kb, sa, sb, e, 0, 0, 0, level), coef, const)
        return (k, e, na and nb)

    def flatten(self, pipeline) -> list[Ref]:
        """Run every stage of da4ml's pipeline symbolically; the last stage's outputs."""
        refs: list[Ref] = [(i, 0, False) for i in range(len(self.lo))]
        for sol in pipeline.solutions:
            refs = self._stage(sol, refs)
        return refs

    def _stage(self, sol, inputs: list[Ref]) -> list[Ref]:
        buf: list[Ref] = []
        for op in sol.ops:
            if op.opcode == -1:        # read input id0, scaled by the stage's input shift
                buf.append(_shift(inputs[op.id0], int(sol.inp_shifts[op.id0])))
            elif op.opcode in (0, 1):  # buf[id0] +/- buf[id1] * 2**data
                buf.append(self.combine(buf[op.id0], _shift(buf[op.id1], int(op.data)), op.opcode == 1))
            else:
                raise RuntimeError(f"da4ml returned opcode {op.opcode}, not an addition")
        return [None if k < 0 else _neg(_shift(buf[k], int(s)), bool(n))
                for k, s, n in zip(sol.out_idxs, sol.out_shifts, sol.out_negs)]

    def finish(self, ref: Ref, bias: int, bias_exp: int) -> tuple[int, int]:
        """(node, exp) of the neuron: its sum plus bias, never negated, never absent."""
        ref = self.combine(ref, self.const(bias, bias_exp), False)
        if ref is None:
            z = np.zeros(len(self.lo), dtype=object)
            return self._add(DANode("const", -1, -1, 0, 0, 0, 0, 0, 0, 0), z, 0), 0
        k, e, neg = ref
        if neg:
            n = self.nodes[k]
            c, c0 = self.coefs[k]
            k = self._add(DANode("neg", k, -1, 0, 0, n.exp, 0, 0, 0, n.level + 1), -c, -c0)
        return k, e


def _shift(r: Ref, s: int) -> Ref:
    return None if r is None else (r[0], r[1] + s, r[2])


def _neg(r: Ref, neg: bool) -> Ref:
    return None if r is None else (r[0], r[1], r[2] != neg)


def _tz(v: int) -> int:
    v = abs(v)
    return (v & -v).bit_length() - 1 if v else 0


def _check(name: str, prog: Program, coefs: list, kernel: np.ndarray, bias: np.ndarray, bias_exp: int) -> None:
    """Every output's coefficients are the weight column and its constant the bias, exactly."""
    for j, (k, e) in enumerate(zip(prog.outputs, prog.out_exp)):
        coef, const = coefs[k]
        low = min(e, bias_exp, 0)
        got = [int(c) << (e - low) for c in coef]
        want = [int(v) << (0 - low) for v in kernel[:, j]]
        if got != want or (const << (e - low)) != (int(bias[j]) << (bias_exp - low)):
            raise RuntimeError(f"node {name!r}: da4ml's adder graph for output {j} does not equal the "
                               "layer's weights and bias; rebuild with arith 'csd'")
