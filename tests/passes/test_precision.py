"""Interval analysis is sound (every value inside its interval) and types are minimal."""

from __future__ import annotations

import numpy as np

from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.passes.precision import intervals, tensor_ranges
from tests.ir.helpers import mlp_graph


def test_intervals_contain_all_values_and_are_tight() -> None:
    g = mlp_graph((6, 5, 3), seed=4, sparsity=0.3)
    tx = g.tensor("x").type
    rng = np.random.default_rng(0)
    x = rng.integers(tx.qmin, tx.qmax + 1, (5000, 6))
    w = g.nodes[0].attrs["weight"]
    corners = np.concatenate([np.where(w.T > 0, tx.qmax, tx.qmin), np.where(w.T > 0, tx.qmin, tx.qmax)])
    env = run(g, np.concatenate([x, corners]), trace=True)
    ivs = intervals(g)
    for name, vals in env.items():
        lo, hi, _ = ivs[name]
        assert np.all(vals >= lo.astype(np.int64)) and np.all(vals <= hi.astype(np.int64)), name
    acc = env["fc1_out"]  # exact accumulators: the corners reach both ends of the interval
    lo, hi, _ = ivs["fc1_out"]
    np.testing.assert_array_equal(acc.max(axis=0), hi.astype(np.int64))
    np.testing.assert_array_equal(acc.min(axis=0), lo.astype(np.int64))


def test_inferred_accumulator_is_the_smallest_exact_type() -> None:
    g = mlp_graph((6, 5, 3), seed=4)
    ta = g.nodes[0].attrs["accum_type"]
    lo, hi, frac = intervals(g)["fc1_out"]
    assert ta.frac == frac
    assert ta.qmin <= min(lo) and max(hi) <= ta.qmax
    smaller = FixedType(ta.width - 1, ta.integer - 1)
    assert min(lo) < smaller.qmin or max(hi) > smaller.qmax


def test_tensor_ranges_in_real_units() -> None:
    g = mlp_graph()
    r = tensor_ranges(g)
    tx = g.tensor("x").type
    assert r["x"] == (tx.min_value, tx.max_value)
    assert r["relu1_out"][0] == 0.0
