"""Interval analysis and precision inference.

Widths follow from value ranges (the da4ml habit): starting from the input types'
ranges, every tensor gets an exact integer interval, and every tensor or accumulator
left untyped by the frontend gets the *smallest type that holds it exactly*. Typed
tensors (quantizer outputs) keep their type; their interval is the requantized one.
Each op's interval and type-filling rule lives in its module (:mod:`hwai.ops`).
"""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph, IRError
from hwai.ir.numeric import Interval
from hwai.ir.registry import op_of


def intervals(graph: Graph) -> dict[str, Interval]:
    """Exact per-element integer intervals of every tensor (for typed inputs)."""
    env = _input_intervals(graph)
    for node in graph.nodes:
        op_of(node).interval(graph, node, env)
    return env


def infer_precision(graph: Graph) -> Graph:
    """Fill every missing accumulator/tensor type with the exact type from its interval."""
    env = _input_intervals(graph)
    g = graph
    for node in graph.nodes:
        op = op_of(node)
        g, node = op.fill_types(g, node, env)
        op.interval(g, node, env)
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


def tensor_ranges(graph: Graph) -> dict[str, tuple[float, float]]:
    """Real-valued min/max of every tensor (for reports and plots)."""
    out = {}
    for name, (lo, hi, frac) in intervals(graph).items():
        out[name] = (float(min(lo)) * 2.0 ** -frac, float(max(hi)) * 2.0 ** -frac)
    return out
