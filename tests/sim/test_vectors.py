"""Test vectors (deterministic, in range, reaching accumulator extremes) and exact compare."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import MismatchError
from hwai.ir.graph import Node, Tensor, chain
from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision, intervals

TIN = FixedType(6, 2, True, "RND_CONV", "SAT")


def small_graph():
    rng = np.random.default_rng(0)
    w1, w2 = rng.integers(-20, 20, (5, 7)), rng.integers(-20, 20, (7, 3))
    wt = FixedType(6, 1)
    d1 = Node("d1", "dense", ("x",), ("d1",), {"weight": w1, "weight_type": wt, "bias": np.arange(7) - 3,
                                                  "bias_type": wt, "accum_type": None})
    r1 = Node("r1", "relu", ("d1",), ("r1",))
    d2 = Node("d2", "dense", ("r1",), ("d2",), {"weight": w2, "weight_type": wt, "bias": np.zeros(3, int),
                                                   "bias_type": wt, "accum_type": None})
    layers = [(d1, Tensor("d1", (7,))), (r1, Tensor("r1", (7,), FixedType(5, 2, False, "RND", "SAT"))),
              (d2, Tensor("d2", (3,)))]
    return infer_precision(chain("small", Tensor("x", (5,), TIN), layers))


def test_vectors_deterministic_in_range() -> None:
    from hwai.sim.vectors import make_vectors

    g = small_graph()
    a, b = make_vectors(g, 500, seed=4), make_vectors(g, 500, seed=4)
    assert a.dtype == np.int64 and a.shape == (500, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_vectors(g, 500, seed=5))
    assert a.min() == TIN.qmin and a.max() == TIN.qmax


def test_corners_reach_first_layer_interval_ends() -> None:
    """Each first-layer neuron's accumulator max and min are hit exactly."""
    from hwai.sim.vectors import make_vectors

    g = small_graph()
    x = make_vectors(g, 100, seed=0)
    acc = run(g, x, trace=True)["d1"]
    lo, hi, _ = intervals(g)["d1"]
    np.testing.assert_array_equal(acc.max(axis=0), np.asarray(hi, dtype=np.int64))
    np.testing.assert_array_equal(acc.min(axis=0), np.asarray(lo, dtype=np.int64))


def test_real_rows_included_first_after_corners() -> None:
    from hwai.sim.vectors import corner_vectors, make_vectors

    g = small_graph()
    real = np.random.default_rng(1).integers(-8, 8, (40, 5))
    x = make_vectors(g, 400, seed=0, real_codes=real)
    k = len(corner_vectors(g)) + 5
    np.testing.assert_array_equal(x[k:k + 40], real)


def test_compare_exact_and_first_layer() -> None:
    from hwai.sim.compare import compare
    from hwai.sim.vectors import make_vectors

    g = small_graph()
    x = make_vectors(g, 50, seed=2)
    golden = run(g, x, trace=True)
    ok = compare(g, x, golden["d2"])
    assert ok.ok and ok.n_mismatches == 0 and ok.first_index is None and "0/50" in ok.summary
    bad = golden["d2"].copy()
    bad[7, 1] += 3
    bad[9, 0] -= 1
    trace = {k: v.copy() for k, v in golden.items() if k != "x"}
    trace["r1"][7, 2] += 1              # the relu output is where it starts
    trace["d2"] = bad
    rep = compare(g, x, bad, trace=trace)
    assert (rep.n_mismatches, rep.first_index, rep.max_abs_diff_lsb, rep.first_layer) == (2, 7, 3, "r1")
    single = compare(g, x, bad, trace={"d1": golden["d1"][7:8], "r1": trace["r1"][7:8]})
    assert single.first_layer == "r1"
    with pytest.raises(MismatchError, match="2/50 vectors differ"):
        rep.raise_if_mismatch()
