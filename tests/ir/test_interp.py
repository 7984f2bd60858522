"""Golden interpreter: dense semantics vs a brute-force Python-int reference; narrow accumulators."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.ir.graph import IRError
from hwai.ir.interp import run, run_float
from hwai.ir.types import FixedType, requantize
from tests.ir.helpers import mlp_graph


def _reference_dense(x, w, b, tx, tw, tb, ta, tout):
    """hls4ml dense_latency order in plain Python ints, one scalar at a time."""
    fp = tx.frac + tw.frac
    out = np.zeros((len(x), w.shape[1]), dtype=object)
    cast = lambda v, f, t: int(requantize(np.array([v], dtype=object), f, t)[0])  # noqa: E731
    for s in range(len(x)):
        for j in range(w.shape[1]):
            acc = cast(int(b[j]), tb.frac, ta)
            for i in range(w.shape[0]):
                acc = cast(acc + cast(int(x[s, i]) * int(w[i, j]), fp, ta), ta.frac, ta)
            out[s, j] = cast(acc, ta.frac, tout)
    return out.astype(np.int64)


@pytest.mark.parametrize("accum", [None, FixedType(9, 4, True, "TRN", "WRAP"), FixedType(9, 4, True, "RND", "SAT"),
                                   FixedType(12, 6, True, "TRN", "SAT"), FixedType(10, 7, True, "RND_CONV", "WRAP")])
def test_dense_matches_scalar_reference(accum) -> None:
    g = mlp_graph((5, 3), seed=3, accum=accum, sparsity=0.2)
    node = g.nodes[0]
    tx = g.tensor("x").type
    rng = np.random.default_rng(0)
    x = rng.integers(tx.qmin, tx.qmax + 1, (200, 5))
    x[:4] = [[tx.qmax] * 5, [tx.qmin] * 5, [tx.qmax, tx.qmin] * 2 + [0], [0] * 5]
    got = run(g, x)["fc1_out"]
    want = _reference_dense(x, node.attrs["weight"], node.attrs["bias"], tx, node.attrs["weight_type"],
                            node.attrs["bias_type"], node.attrs["accum_type"], g.tensor("fc1_out").type)
    np.testing.assert_array_equal(got, want)


def test_exact_accumulator_never_overflows() -> None:
    g = mlp_graph((16, 8), seed=1, sparsity=0.0)
    tx = g.tensor("x").type
    node = g.nodes[0]
    w = node.attrs["weight"]
    # inputs at the extremes with the weights' signs drive every accumulator to its maximum
    x = np.where(w.T > 0, tx.qmax, tx.qmin)
    acc = run(g, x)["fc1_out"]
    shift = tx.frac + node.attrs["weight_type"].frac - node.attrs["bias_type"].frac
    exact = x.astype(object) @ w.astype(object) + node.attrs["bias"].astype(object) * (1 << shift)
    np.testing.assert_array_equal(acc, exact.astype(np.int64))


def test_trace_and_float_api() -> None:
    g = mlp_graph(out=FixedType(8, 3, True, "RND", "SAT"))
    tx = g.tensor("x").type
    x = np.random.default_rng(2).normal(size=(50, 8))
    env = run(g, tx.from_float(x), trace=True)
    assert set(env) == set(g.tensors)
    y = run_float(g, x)
    np.testing.assert_array_equal(g.tensor("y").type.from_float(y), env["y"])


def test_input_checks() -> None:
    g = mlp_graph()
    with pytest.raises(IRError, match="integer codes"):
        run(g, np.zeros((2, 8)))
    with pytest.raises(IRError, match="outside"):
        run(g, np.full((2, 8), 10_000))
