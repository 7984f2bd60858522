"""The op added through the registry alone: leaky_relu, exact in every backend."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs
from hwai.codegen.verilog import generate_verilog
from hwai.ir import interp
from hwai.ir.graph import Graph, IRError, Node, Tensor
from hwai.ir.types import FixedType as F
from hwai.passes.precision import infer_precision, intervals
from hwai.sim.vectors import make_vectors
from hwai.target import Target

X = F(10, 4, True, "RND", "SAT")


def leaky_graph() -> Graph:
    """dense -> leaky_relu (shift 3, rounding + saturating output) -> dense -> leaky (inferred type)."""
    rng = np.random.default_rng(5)
    w1, w2 = rng.integers(-8, 8, (6, 8)), rng.integers(-8, 8, (8, 4))
    nodes = (Node("d1", "dense", ("x",), ("h1",), {"weight": w1, "weight_type": F(4, 0), "bias": rng.integers(-8, 8, 8),
                                                  "bias_type": F(5, 1), "accum_type": None}),
             Node("l1", "leaky_relu", ("h1",), ("a1",), {"shift": 3}),
             Node("d2", "dense", ("a1",), ("h2",), {"weight": w2, "weight_type": F(4, 0), "bias": rng.integers(-8, 8, 4),
                                                   "bias_type": F(5, 1), "accum_type": None}),
             Node("l2", "leaky_relu", ("h2",), ("y",), {"shift": 2}))
    tensors = {"x": Tensor("x", (6,), X), "h1": Tensor("h1", (8,)), "a1": Tensor("a1", (8,), F(7, 3, True, "RND_CONV", "SAT")),
               "h2": Tensor("h2", (4,)), "y": Tensor("y", (4,))}
    return infer_precision(Graph("leaky", ("x",), ("y",), tensors, nodes))


def vectors(g: Graph, n: int = 10_000) -> np.ndarray:
    return make_vectors(g, n, seed=1)       # corner vectors first, then extremes and random


@pytest.mark.unit
def test_golden_is_the_float_definition_and_intervals_hold() -> None:
    g = leaky_graph()
    x = vectors(g)
    env = interp.run_reference(g, x, trace=True)
    h, a = env["h1"].astype(np.float64) * 2.0 ** -g.tensor("h1").type.frac, env["a1"]
    want = g.tensor("a1").type.from_float(np.where(h > 0, h, h / 8))  # RND/SAT of the exact value
    assert np.array_equal(a, want)
    assert np.array_equal(interp.run(g, x)["y"], env["y"])        # fast path falls back exactly
    iv = intervals(g)
    for t in ("a1", "y"):
        assert (env[t] >= iv[t][0].astype(np.int64)).all() and (env[t] <= iv[t][1].astype(np.int64)).all()
    assert (env["y"] < 0).any() and (env["y"] > 0).any()


@pytest.mark.unit
def test_slope_must_be_below_one() -> None:
    with pytest.raises(IRError, match="shift 0 must be >= 1"):
        Node("l", "leaky_relu", ("x",), ("y",), {"shift": 0})
    with pytest.raises(IRError, match="has no attribute"):
        Node("l", "leaky_relu", ("x",), ("y",), {"shift": 1, "alpha": 0.5})


@pytest.mark.unit
def test_estimate_counts_it() -> None:
    from hwai.estimate.cost import estimate
    est = estimate(leaky_graph(), Target())
    assert est.per_node["l1"].lut > 0 and not any("l1" in n for n in est.notes)


@pytest.mark.csim
def test_native_and_fast_csim_equal_golden_on_10k_vectors() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    from hwai.sim.fast_csim import load_fast
    from hwai.sim.native_csim import load_native

    g = leaky_graph()
    x = vectors(g)
    gold = golden_outputs(g, x)
    for name, got in (("native ap_fixed", load_native(generate(g, Target(), vectors=x[:4])).predict(x)),
                      ("fast int64", load_fast(g).predict(x))):
        assert int(np.count_nonzero(np.any(got != gold, axis=1))) == 0, name


@pytest.mark.rtl
def test_verilator_equals_golden_on_10k_vectors(tmp_path) -> None:
    import shutil

    from hwai.sim.rtl import compare_with_golden
    if shutil.which("verilator") is None:
        pytest.skip("verilator not installed")
    g = leaky_graph()
    rep = compare_with_golden(g, generate_verilog(g), vectors(g))   # raises on any mismatch
    assert rep["mismatches"] == 0 and rep["vectors"] == 10_000


@pytest.mark.csim
@pytest.mark.slow
def test_hls4ml_csim_equals_golden(tmp_path) -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    g = leaky_graph()
    x = vectors(g)
    model = to_hls4ml(g, tmp_path / "hls", Target(), vectors=x[:10])
    model.compile()
    got = csim_hls4ml(g, model, x)
    assert int(np.count_nonzero(np.any(got != golden_outputs(g, x), axis=1))) == 0
