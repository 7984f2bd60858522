"""Test vectors for bit-exactness checks: real rows, random codes and corner cases.

Random inputs rarely reach an accumulator's extremes, yet that is where narrow
accumulators wrap or saturate and where a wrong overflow mode shows. So besides
uniform codes the set contains *corner vectors*: for each output neuron of each dense
layer, the input that pushes its (linearized) pre-activation to the top or bottom of
its interval — every input at its max or min, with the sign of the input's weight.
"""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph
from hwai.ir.registry import op_of


def make_vectors(graph: Graph, n: int, seed: int, real_codes: np.ndarray | None = None) -> np.ndarray:
    """``n`` input code vectors (int64, shape (n, n_in)), deterministic from ``seed``.

    Order: corner vectors, extremes, real rows (up to a quarter of ``n``), the same real
    rows jittered (another quarter), then uniform codes over the whole input range.
    A graph with several inputs gets these columns per input (each input's own corner
    vectors and range), side by side in graph order (:func:`hwai.codegen.native.flat_inputs`).
    """
    rng = np.random.default_rng(seed)
    if len(graph.inputs) == 1:
        return _input_vectors(graph, graph.inputs[0], n, rng, real_codes)
    from hwai.codegen.native import flat_inputs, split_inputs

    real = None if real_codes is None or not len(real_codes) else split_inputs(graph, flat_inputs(graph, real_codes))
    return np.ascontiguousarray(np.concatenate(
        [_input_vectors(graph, t, n, rng, None if real is None else real[t]) for t in graph.inputs], axis=1))


def _input_vectors(graph: Graph, name: str, n: int, rng: np.random.Generator,
                   real_codes: np.ndarray | None) -> np.ndarray:
    t = graph.tensor(name)
    lo, hi = t.type.qmin, t.type.qmax
    parts = [corner_vectors(graph, name), extreme_vectors(t.size, lo, hi)]
    if real_codes is not None and len(real_codes):
        real = np.asarray(real_codes, dtype=np.int64).reshape(len(real_codes), t.size)
        k = max(0, min(len(real), n // 4))
        parts += [real[:k], _jitter(real, n // 4, lo, hi, rng)]
    fixed = np.concatenate(parts)[:n]
    uniform = rng.integers(lo, hi, size=(n - len(fixed), t.size), endpoint=True, dtype=np.int64)
    return np.ascontiguousarray(np.concatenate([fixed, uniform]).astype(np.int64))


def extreme_vectors(size: int, lo: int, hi: int) -> np.ndarray:
    """All-min, all-max, all-zero, alternating max/min and min/max."""
    alt = np.where(np.arange(size) % 2 == 0, hi, lo)
    alt2 = np.where(np.arange(size) % 2 == 0, lo, hi)
    zero = min(max(0, lo), hi)
    return np.array([np.full(size, lo), np.full(size, hi), np.full(size, zero), alt, alt2],
                    dtype=np.int64)


def corner_vectors(graph: Graph, name: str | None = None) -> np.ndarray:
    """Two vectors per output neuron of every dense layer (its max and its min).

    For the first dense layer the choice is exact (x_i = max where w_i > 0, else min).
    For deeper layers the direction is the product of the weight matrices on the way
    (the network linearized, relus ignored): a cheap proxy that still reaches far
    further into the accumulator ranges than random inputs.
    """
    name = name or graph.inputs[0]
    t = graph.tensor(name)
    lo, hi = t.type.qmin, t.type.qmax
    rows = []
    for direction in _directions(graph, name):
        for col in direction.T:
            up = np.where(col > 0, hi, np.where(col < 0, lo, 0 if lo <= 0 <= hi else lo))
            down = np.where(col > 0, lo, np.where(col < 0, hi, 0 if lo <= 0 <= hi else lo))
            rows += [up, down]
    if not rows:
        return np.zeros((0, t.size), dtype=np.int64)
    return np.asarray(rows, dtype=np.int64)


def _directions(graph: Graph, name: str) -> list[np.ndarray]:
    """Per dense layer, the linearized map from graph input ``name`` to its accumulators."""
    maps: dict[str, np.ndarray] = {name: np.eye(graph.tensor(name).size)}
    out = []
    for node in graph.nodes:
        src = maps.get(node.inputs[0]) if len(node.inputs) == 1 else None
        if src is None:
            continue
        step = op_of(node).linear_map(node, src)
        if step is None:
            continue
        maps[node.outputs[0]] = step[0]
        if step[1]:
            out.append(step[0])
    return out


def _jitter(real: np.ndarray, k: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Real rows plus noise of a quarter of each feature's spread (stays near the data)."""
    if k <= 0:
        return np.zeros((0, real.shape[1]), dtype=np.int64)
    rows = real[rng.integers(0, len(real), size=k)].astype(np.float64)
    spread = np.maximum(real.std(axis=0), 1.0)
    noisy = np.rint(rows + rng.normal(0.0, 0.25, size=rows.shape) * spread)
    return np.clip(noisy, lo, hi).astype(np.int64)
