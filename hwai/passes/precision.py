"""Interval analysis and precision inference.

Widths follow from value ranges (the da4ml habit): starting from the input types'
ranges, every tensor gets an exact integer interval, and every tensor or accumulator
left untyped by the frontend gets the *smallest type that holds it exactly*. Typed
tensors (quantizer outputs) keep their type; their interval is the requantized one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hwai.ir.graph import Graph, IRError, Node
from hwai.ir.numeric import Interval, cast_interval, type_for_range
from hwai.ir.types import FixedType


def intervals(graph: Graph) -> dict[str, Interval]:
    """Exact per-element integer intervals of every tensor (for typed inputs)."""
    env = _input_intervals(graph)
    for node in graph.nodes:
        _INTERVAL[node.op](graph, node, env)
    return env


def infer_precision(graph: Graph) -> Graph:
    """Fill every missing accumulator/tensor type with the exact type from its interval."""
    env = _input_intervals(graph)
    g = graph
    for node in graph.nodes:
        g, node = _fill(g, node, env)
        _INTERVAL[node.op](g, node, env)
    return g.validate()


def _input_intervals(graph: Graph) -> dict[str, Interval]:
    """Every code of each input type is possible: the interval is the type's whole range."""
    env: dict[str, Interval] = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        if t.type is None:
            raise IRError(f"input {name!r} has no fixed-point type")
        env[name] = (np.full(t.size, t.type.qmin, dtype=object),
                     np.full(t.size, t.type.qmax, dtype=object), t.type.frac)
    return env


def _fill(g: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
    if node.op == "dense" and node.attrs.get("accum_type") is None:
        lo, hi, frac = _dense_exact(g, node, env)
        node = node.with_attrs(accum_type=type_for_range(int(lo.min()), int(hi.max()), frac))
        g = g.with_node(node)
    out = g.tensor(node.outputs[0])
    if out.type is None:
        if node.op == "dense":
            g = g.retyped(out.name, node.attrs["accum_type"].exact())
        elif node.op == "relu":
            lo, hi, frac = env[node.inputs[0]]
            g = g.retyped(out.name, type_for_range(0, max(int(hi.max()), 0), frac, force_signed=False))
        elif node.op == "quant":
            raise IRError(f"node {node.name!r}: a quantizer needs an explicit output type")
    return g, node


def _dense_exact(g: Graph, node: Node, env: dict[str, Interval]) -> Interval:
    """Exact accumulator interval per output neuron at full precision."""
    xlo, xhi, fx = env[node.inputs[0]]
    w = np.asarray(node.attrs["weight"]).astype(object)
    b = np.asarray(node.attrs["bias"]).astype(object)
    fw, fb = node.attrs["weight_type"].frac, node.attrs["bias_type"].frac
    fp = fx + fw
    fa = max(fp, fb)
    a, c = w * xlo[:, None], w * xhi[:, None]
    lo = np.minimum(a, c).sum(axis=0) * (1 << (fa - fp)) + b * (1 << (fa - fb))
    hi = np.maximum(a, c).sum(axis=0) * (1 << (fa - fp)) + b * (1 << (fa - fb))
    return lo, hi, fa


def _iv_dense(g: Graph, node: Node, env: dict[str, Interval]) -> None:
    lo, hi, fa = _dense_exact(g, node, env)
    ta: FixedType = node.attrs["accum_type"]
    acc = cast_interval((lo, hi, fa), ta)
    env[node.outputs[0]] = cast_interval(acc, g.tensor(node.outputs[0]).type)


def _iv_relu(g: Graph, node: Node, env: dict[str, Interval]) -> None:
    lo, hi, frac = env[node.inputs[0]]
    iv = (np.maximum(lo, 0), np.maximum(hi, 0), frac)
    env[node.outputs[0]] = cast_interval(iv, g.tensor(node.outputs[0]).type)


def _iv_quant(g: Graph, node: Node, env: dict[str, Interval]) -> None:
    env[node.outputs[0]] = cast_interval(env[node.inputs[0]], g.tensor(node.outputs[0]).type)


def _iv_expr(g: Graph, node: Node, env: dict[str, Interval]) -> None:
    from hwai.ir.expr import interval_node  # sympy-backed op, imported only when used
    interval_node(g, node, env)


_INTERVAL: dict[str, Callable[[Graph, Node, dict[str, Interval]], None]] = {
    "dense": _iv_dense, "relu": _iv_relu, "quant": _iv_quant, "expr": _iv_expr,
}


def tensor_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """Real-valued min/max of every tensor (for reports and plots)."""
    out = {}
    for name, (lo, hi, frac) in intervals(graph).items():
        out[name] = (float(min(lo)) * 2.0 ** -frac, float(max(hi)) * 2.0 ** -frac)
    return out
