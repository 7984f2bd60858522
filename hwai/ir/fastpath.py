"""The golden model's fast evaluation: integer codes carried exactly in float64.

A float64 holds every integer of magnitude below 2**53 exactly, and adding,
multiplying or scaling by a power of two such integers stays exact as long as every
intermediate does too. So a dense layer's integer dot product may run as a BLAS
matrix product (any summation order, FMA or not) when every partial sum provably
stays below that limit, and every requantize becomes a few vectorised float
operations (scale by 2**-s, round, clip or wrap).

The proof is made per node when the plan is built, from the IR's types: a typed
tensor's codes lie in its type's range, so for a dense layer
``|partial sum| <= sum_i max|x_i| * |w_ij| + |b_j|`` bounds every order of summation.
Nodes that fail a proof (too wide, a non-modular accumulator that rounds or saturates
after every product, an ``expr`` node) are evaluated by the reference integer
semantics instead; :attr:`Plan.fallbacks` records which and why. A quant whose
elements have their own types runs as the same float operations with per-element
scales and bounds (:class:`ElementCasts`).

The reference semantics stay in :mod:`hwai.ir.interp` (the one definition); this
module only re-expresses them, and the tests compare both bit for bit.
"""

from __future__ import annotations

import math
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from hwai.ir.graph import Graph, Node
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType

# A node runs in floats when every code, partial sum and bias it handles has magnitude
# <= 2**B with B = significand bits - 1 (52 for float64, 23 for float32). Then every
# integer intermediate, including code - qmin in WRAP and code + 2**(s-1) in the
# round-to-nearest offsets, stays <= 2**(B+1), which the significand holds exactly;
# and for a shift s > B+1 the scaled value is below 1/4, so the +-0.5 offset cannot
# round across an integer. float32 is chosen per node when it proves: half the memory
# traffic and twice the BLAS rate.
EXACT_BITS = 52
FLOAT32_BITS = 23
# Rows per chunk: (1024, 64) float64 activations (512 KiB) stay in L2; measured on the
# jet MLP, 1024-2048 rows beat 4096+ by ~20%.
CHUNK = 1024

FloatEnv = dict[str, np.ndarray]
ReferenceEval = Callable[[Graph, Node, list[np.ndarray]], list[np.ndarray]]
Interval = tuple[int, int]


@dataclass(frozen=True)
class Requant:
    """One ap_fixed cast on float-held codes, with the no-op parts proven away."""

    scale: float                # multiply by 2**-shift (1.0: none)
    round_mode: str | None      # None: the scaled value is already an integer
    lo: float                   # overflow range of the target type
    hi: float
    overflow: str | None        # None: proven not to overflow
    width: int
    relu: bool = False          # clamp at zero before overflow (relu's max(x, 0))

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.round_mode is None and self.overflow is None and not self.relu


@dataclass
class Step:
    node: str
    outputs: tuple[str, ...]
    run: Callable[[FloatEnv], list[np.ndarray]]


@dataclass
class Plan:
    """The evaluation plan of one graph: a float step or a reference step per node."""

    steps: list[Step]
    fallbacks: dict[str, str] = field(default_factory=dict)   # node -> why not float
    float_nodes: list[str] = field(default_factory=list)


# --- plan ------------------------------------------------------------------------

def build_plan(graph: Graph, reference: ReferenceEval, trace: bool = False) -> Plan:
    """One step per node; the proof of exactness is checked here, node by node."""
    plan = Plan(steps=[])
    dtypes = {n.name: _node_dtype(graph, n, plan.fallbacks) for n in graph.nodes}
    moved = {} if trace else _moved_scales(graph, dtypes)
    for node in graph.nodes:
        dtype = dtypes[node.name]
        if dtype is None:
            plan.steps.append(_reference_step(graph, node, reference))
            continue
        fresh = not trace and _sole_use(graph, node.inputs[0])
        scale = moved.get(node.name, 1.0)
        plan.steps.append(op_of(node).fast_step(graph, node, dtype, fresh, scale))
        plan.float_nodes.append(f"{node.name}:{np.dtype(dtype).name}")
    return plan


def _node_dtype(graph: Graph, node: Node, fallbacks: dict[str, str]) -> type | None:
    """float32 or float64 when proven exact, else None (the reason goes to ``fallbacks``)."""
    reason = _float_blocker(graph, node, EXACT_BITS)
    if reason is not None:
        fallbacks[node.name] = reason
        return None
    return np.float32 if _float_blocker(graph, node, FLOAT32_BITS) is None else np.float64


def _moved_scales(graph: Graph, dtypes: dict[str, type | None]) -> dict[str, float]:
    """Power-of-two scales moved from a relu/quant into the dense feeding it (saves a pass).

    Allowed when the dense's own casts are proven no-ops and its output is read by that
    node only (not returned): scaling the weights by 2**-s scales every partial sum by
    2**-s, exactly. Both nodes are keyed: dense -> 2**-s, consumer -> 2**-s (undone).
    """
    out: dict[str, float] = {}
    for node in graph.nodes:
        t = node.outputs[0]
        if not op_of(node).fast_linear or dtypes[node.name] is None or not _sole_use(graph, t):
            continue
        nxt = graph.consumers(t)[0]
        if not op_of(nxt).fast_cast or dtypes[nxt.name] != dtypes[node.name]:
            continue
        if all(r.identity for r in _dense_requants(graph, node)):
            out[node.name] = out[nxt.name] = _elementwise_requant(graph, nxt).scale
    return out


def _sole_use(graph: Graph, tensor: str) -> bool:
    """The tensor is read once and not returned: its consumer may overwrite it."""
    return tensor not in graph.outputs and tensor not in graph.inputs and len(graph.consumers(tensor)) == 1


_PLANS: dict[tuple[int, bool], tuple[weakref.ref, str, Plan]] = {}


def plan_for(graph: Graph, reference: ReferenceEval, trace: bool = False) -> Plan:
    """The cached plan of ``graph``; the cache follows the graph's life and its content
    (a Graph is frozen, but its weight arrays and tensor dict could be edited in place)."""
    key, stamp = (id(graph), trace), _fingerprint(graph)
    hit = _PLANS.get(key)
    if hit is not None and hit[0]() is graph and hit[1] == stamp:
        return hit[2]
    plan = build_plan(graph, reference, trace)
    _PLANS[key] = (weakref.ref(graph, lambda _r, k=key, pop=_PLANS.pop: pop(k, None)), stamp, plan)
    return plan


def _fingerprint(graph: Graph) -> str:
    """Digest of what a plan depends on: nodes' attributes and tensor types (~10 us)."""
    small: list = [(t.name, t.type) for t in graph.tensors.values()]
    for n in graph.nodes:
        small.append((n.name, n.op, n.inputs, n.outputs))
        for k, v in n.attrs.items():  # crc32: a change detector, ~10x faster than a digest
            small.append((k, zlib.crc32(np.ascontiguousarray(v)) if isinstance(v, np.ndarray)
                          else _hashable(v)))
    return str(hash(tuple(small)))   # FixedType is frozen: hash, not a slow repr


def _hashable(v: object) -> object:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def _float_blocker(graph: Graph, node: Node, bits: int) -> str | None:
    """Why ``node`` cannot run exactly in floats with ``bits``-bit codes, or None."""
    op = op_of(node)
    if not op.fast_form:
        return f"op {node.op!r} has no float form"
    types = [graph.tensor(t).type for t in (*node.inputs, *node.outputs)]
    if any(t is None for t in types):
        return "untyped tensor"
    if max(_mag(t) for t in types) > 1 << bits:
        return f"a tensor's codes exceed 2**{bits}"
    return op.fast_blocker(graph, node, bits)


def dense_blocker(graph: Graph, node: Node, bits: int) -> str | None:
    tx = graph.tensor(node.inputs[0]).type
    a = node.attrs
    tw, tb, ta = a.weight_type, a.bias_type, a.accum_type
    fp = tx.frac + tw.frac
    if not (ta.overflow == "WRAP" and ta.frac >= fp and ta.frac >= tb.frac):
        return "accumulator casts after every product (not modular): sequential int64"
    if _mag(ta) > 1 << bits:
        return f"accumulator codes exceed 2**{bits}"
    bound = _dense_bound(node, tx, ta.frac - fp, ta.frac - tb.frac)
    if bound > 1 << bits:
        return (f"partial sums reach {bound.bit_length()} bits > {bits}: "
                "not exact in floats, int64 fallback")
    return None


def _mag(t: FixedType) -> int:
    """Largest |code| of a type."""
    return max(-t.qmin, t.qmax)


def _dense_bound(node: Node, tx: FixedType, wshift: int, bshift: int) -> int:
    """Largest |partial sum| over every summation order, in accumulator codes (exact ints)."""
    xmax = _mag(tx)
    wabs = np.abs(np.asarray(node.attrs.weight, dtype=np.int64)).astype(object)
    babs = np.abs(np.asarray(node.attrs.bias, dtype=np.int64)).astype(object)
    cols = wabs.sum(axis=0) * xmax * (1 << wshift) + babs * (1 << bshift)
    return int(max(cols, default=0))


def elementwise_blocker(graph: Graph, node: Node, bits: int) -> str | None:
    tx = graph.tensor(node.inputs[0]).type
    tout = graph.tensor(node.outputs[0]).type
    up = max(0, tout.frac - tx.frac)
    if _mag(tx) << up > 1 << bits:
        return f"left shift by {up} leaves {bits} bits"
    return None


# --- requantize in float -----------------------------------------------------------

def requant_plan(interval: Interval, frac_in: int, to: FixedType, relu: bool = False) -> Requant:
    """Which parts of ``requantize(q, frac_in, to)`` can act on codes in ``interval``."""
    shift = frac_in - to.frac
    lo, hi = interval
    if relu:
        lo, hi = max(lo, 0), max(hi, 0)
    rlo, rhi = (lo >> shift, -((-hi) >> shift)) if shift > 0 else (lo << -shift, hi << -shift)
    fits = to.qmin <= rlo and rhi <= to.qmax
    qlo = -to.qmax if to.overflow == "SAT_SYM" and to.signed else to.qmin
    return Requant(scale=math.ldexp(1.0, -shift), round_mode=to.rounding if shift > 0 else None,
                   lo=float(qlo), hi=float(to.qmax), overflow=None if fits else to.overflow,
                   width=to.width, relu=relu and interval[0] < 0)


def apply_requant(v: np.ndarray, r: Requant, fresh: bool) -> np.ndarray:
    """Cast float-held codes ``v`` as :func:`hwai.ir.types.requantize` would (in place when ``fresh``)."""
    if r.identity:
        return v
    if r.scale != 1.0:
        v = np.multiply(v, r.scale, out=v if fresh else None)
    elif not fresh:
        v = v.copy()
    if r.round_mode is not None:
        _round(v, r.round_mode)
    if r.relu and not (r.overflow in ("SAT", "SAT_SYM") and r.lo <= 0.0):
        np.maximum(v, 0.0, out=v)   # rounding is monotonic and keeps 0: max commutes with it
    if r.overflow is not None:
        _overflow(v, r)
    return v


def _round(v: np.ndarray, mode: str) -> None:
    """Round in place with ap_fixed ``mode`` (values are exact dyadic numbers)."""
    if mode == "TRN":
        np.floor(v, out=v)
    elif mode == "TRN_ZERO":
        np.trunc(v, out=v)
    elif mode == "RND":
        np.floor(np.add(v, 0.5, out=v), out=v)
    elif mode == "RND_MIN_INF":
        np.ceil(np.subtract(v, 0.5, out=v), out=v)
    elif mode == "RND_CONV":
        np.rint(v, out=v)           # IEEE round-half-even == ties to even
    elif mode == "RND_ZERO":        # ties toward zero: round |v| ties down, restore the sign
        m = np.ceil(np.abs(v) - 0.5)
        np.copysign(m, v, out=v)
    elif mode == "RND_INF":         # ties away from zero
        m = np.floor(np.abs(v) + 0.5)
        np.copysign(m, v, out=v)
    else:  # pragma: no cover - guarded by FixedType
        raise ValueError(mode)


def _overflow(v: np.ndarray, r: Requant) -> None:
    lo, hi = (max(r.lo, 0.0), r.hi) if r.relu else (r.lo, r.hi)
    if r.overflow in ("SAT", "SAT_SYM"):   # fmax/fmin: ~2.5x faster than np.clip (no NaNs here)
        np.fmin(np.fmax(v, lo, out=v), hi, out=v)
    elif r.overflow == "SAT_ZERO":
        v[(v < r.lo) | (v > r.hi)] = 0.0
    else:                           # WRAP: v - 2**W * floor((v - qmin) / 2**W), all exact
        span = math.ldexp(1.0, r.width)
        k = np.floor((v - r.lo) * (1.0 / span))
        v -= k * span


# --- float steps ------------------------------------------------------------------

def _type_interval(t: FixedType) -> Interval:
    return t.qmin, t.qmax


def _dense_requants(graph: Graph, node: Node) -> tuple[Requant, Requant]:
    """The cast into the accumulator (a wrap, or nothing) and into the output type."""
    tx = graph.tensor(node.inputs[0]).type
    a = node.attrs
    tw, tb, ta = a.weight_type, a.bias_type, a.accum_type
    fp = tx.frac + tw.frac
    bound = _dense_bound(node, tx, ta.frac - fp, ta.frac - tb.frac)
    to_acc = requant_plan((-bound, bound), ta.frac, ta)
    acc_iv = (-bound, bound) if to_acc.overflow is None else _type_interval(ta)
    return to_acc, requant_plan(acc_iv, ta.frac, graph.tensor(node.outputs[0]).type)


def dense_step(graph: Graph, node: Node, dtype: type, fresh: bool, scale: float = 1.0) -> Step:
    """x @ W + b as one BLAS call on codes; ``scale``: a consumer's 2**-s folded into W, b."""
    tx = graph.tensor(node.inputs[0]).type
    a = node.attrs
    tw, tb, ta = a.weight_type, a.bias_type, a.accum_type
    fp = tx.frac + tw.frac
    w = np.ldexp(np.asarray(node.attrs.weight, dtype=np.float64), ta.frac - fp) * scale
    b = (np.ldexp(np.asarray(node.attrs.bias, dtype=np.float64), ta.frac - tb.frac) * scale).astype(dtype)
    to_acc, to_out = _dense_requants(graph, node)
    w = np.ascontiguousarray(w.astype(dtype))
    src = node.inputs[0]

    def run(env: FloatEnv) -> list[np.ndarray]:
        acc = _as(env[src], dtype) @ w
        acc += b
        return [apply_requant(apply_requant(acc, to_acc, True), to_out, True)]
    return Step(node.name, node.outputs, run)


def _elementwise_requant(graph: Graph, node: Node) -> Requant:
    tx = graph.tensor(node.inputs[0]).type
    return requant_plan(_type_interval(tx), tx.frac, graph.tensor(node.outputs[0]).type,
                        relu=op_of(node).zero_below)


def elementwise_step(graph: Graph, node: Node, dtype: type, fresh: bool, scale: float = 1.0) -> Step:
    """A cast op (relu/quant); ``scale`` != 1: its 2**-s was already applied by the dense before it."""
    r = _elementwise_requant(graph, node)
    if scale != 1.0:
        r = replace(r, scale=1.0)
    src = node.inputs[0]

    def run(env: FloatEnv) -> list[np.ndarray]:
        x = env[src]
        return [apply_requant(_as(x, dtype), r, fresh or x.dtype != dtype)]
    return Step(node.name, node.outputs, run)


@dataclass(frozen=True)
class ElementCasts:
    """Per-element casts on float-held codes (a quant whose elements have their own
    types), as arrays over the elements; a 0-bit element has ``post`` 0."""

    pre: np.ndarray             # 2**(f_i - frac_in): onto the element's grid
    lo: np.ndarray              # its overflow range
    hi: np.ndarray
    span: np.ndarray            # 2**width_i (WRAP)
    post: np.ndarray            # 2**(F - f_i): onto the output grid
    rounding: str
    overflow: str


def element_casts(types: list[FixedType | None], frac_in: int, tout: FixedType, dtype: type) -> ElementCasts:
    """The per-element form of :func:`requant_plan` (no parts proven away: one pass each)."""
    ts = [t or FixedType(1, 1, False) for t in types]   # placeholder for 0-bit: post = 0
    frac = np.array([t.frac for t in ts])
    lo = [(-t.qmax if t.overflow == "SAT_SYM" and t.signed else t.qmin) for t in ts]

    def arr(v: object) -> np.ndarray:
        return np.asarray(v, dtype=np.float64).astype(dtype)
    return ElementCasts(pre=arr(np.ldexp(1.0, frac - frac_in)), lo=arr(lo), hi=arr([t.qmax for t in ts]),
                        span=arr([math.ldexp(1.0, t.width) for t in ts]),
                        post=arr([0.0 if t is None else math.ldexp(1.0, tout.frac - t.frac) for t in types]),
                        rounding=tout.rounding, overflow=tout.overflow)


def apply_element_casts(v: np.ndarray, c: ElementCasts) -> np.ndarray:
    """:func:`hwai.ir.numeric.requantize_elements` on float-held codes (a new array)."""
    v = v * c.pre
    _round(v, c.rounding)
    if c.overflow in ("SAT", "SAT_SYM"):
        np.fmin(np.fmax(v, c.lo, out=v), c.hi, out=v)
    elif c.overflow == "SAT_ZERO":
        v[(v < c.lo) | (v > c.hi)] = 0.0
    else:                        # WRAP, as _overflow: all terms exact
        v -= np.floor((v - c.lo) / c.span) * c.span
    v *= c.post
    return v


def element_cast_step(graph: Graph, node: Node, dtype: type, fresh: bool, scale: float,
                      types: list[FixedType | None]) -> Step:
    """A quant whose element ``i`` has its own type ``types[i]``: one cast each. ``scale``
    != 1: the dense before it already moved the codes onto the output grid (2**-s of the
    uniform cast into the output type, :func:`_moved_scales`). Exact under
    :func:`elementwise_blocker`: every f_i <= F, so no element shifts further left than
    the uniform cast would."""
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    casts = element_casts(types, tout.frac if scale != 1.0 else tin.frac, tout, dtype)
    src = node.inputs[0]

    def run(env: FloatEnv) -> list[np.ndarray]:
        return [apply_element_casts(_as(env[src], dtype), casts)]
    return Step(node.name, node.outputs, run)


def _reference_step(graph: Graph, node: Node, reference: ReferenceEval) -> Step:
    """Integer semantics for a node the float form cannot prove exact."""
    def run(env: FloatEnv) -> list[np.ndarray]:
        return reference(graph, node, [_as_int(env[i]) for i in node.inputs])
    return Step(node.name, node.outputs, run)


def _as(a: np.ndarray, dtype: type) -> np.ndarray:
    """Codes as ``dtype`` (exact: the step's plan proved they fit its significand)."""
    return a if a.dtype == dtype else a.astype(dtype)


def _as_int(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int64) if a.dtype.kind == "f" else a


# --- evaluation ------------------------------------------------------------------

def evaluate(graph: Graph, inputs: dict[str, np.ndarray], reference: ReferenceEval,
             trace: bool = False) -> dict[str, np.ndarray]:
    """Run the plan over ``inputs`` (int64 codes) in row chunks; int64 codes back."""
    plan = plan_for(graph, reference, trace)
    n = len(next(iter(inputs.values()))) if inputs else 0
    keep = list(graph.tensors) if trace else list(graph.outputs)
    pieces: dict[str, list[np.ndarray]] = {k: [] for k in keep}
    for a in range(0, max(n, 1), CHUNK):
        env: FloatEnv = {k: v[a:a + CHUNK] for k, v in inputs.items()}
        for step in plan.steps:
            env.update(zip(step.outputs, step.run(env)))
        for k in keep:
            if k in env:
                pieces[k].append(_as_int(env[k]))
    return {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in pieces.items() if v}
