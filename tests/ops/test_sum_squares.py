"""sum_squares (the anomaly score Σ z_i² of a latent vector): golden semantics against numpy,
interval and cost rules, and every backend equal to the golden model on >= 10,000 vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph, IRError, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    hls4ml_mismatches,
    hls4ml_model,
    mismatches,
    native_apfixed_mismatches,
    needs,
    verilator_mismatches,
)

N_IN, LATENT = 10, 8
N_VECTORS = 10_000
INPUT = FixedType(10, 4, True, "RND_CONV", "SAT")
LATENT_T = FixedType(12, 5, True, "RND_CONV", "SAT")
TARGET = Target(project_name="score")


def encoder(score_type: FixedType | None = None, seed: int = 0) -> Graph:
    """dense 10 -> 8 (the latent means), quant to LATENT_T, sum_squares -> (1,)."""
    rng = np.random.default_rng(seed)
    wt = FixedType(6, 1)
    w = rng.integers(wt.qmin, wt.qmax + 1, (N_IN, LATENT))
    layers = [(Node("mu", "dense", ("x",), ("mu_out",), {"weight": w, "weight_type": wt,
                    "bias": rng.integers(wt.qmin, wt.qmax + 1, LATENT), "bias_type": wt}), Tensor("mu_out", (LATENT,))),
              (Node("mu_q", "quant", ("mu_out",), ("z",)), Tensor("z", (LATENT,), LATENT_T)),
              (Node("score", "sum_squares", ("z",), ("score_out",)), Tensor("score_out", (1,), score_type))]
    return infer_precision(chain("enc", Tensor("x", (N_IN,), INPUT), layers)).validate()


# exact output type (None), and a narrow RND/SAT one: the output cast rounds and saturates
@pytest.fixture(scope="module", params=["exact", "narrow"])
def case(request) -> tuple[Graph, np.ndarray, np.ndarray]:
    g = encoder(None if request.param == "exact" else FixedType(9, 8, False, "RND", "SAT"))
    x = make_vectors(g, N_VECTORS, seed=3)
    return g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_golden_is_the_exact_sum_of_squares_then_one_cast(case) -> None:
    g, x, _ = case
    trace = interp.run_reference(g, x[:3000], trace=True)
    z = g.tensor("z").type.to_float(np.asarray(trace["z"]))
    want = g.tensor("score_out").type.from_float((z.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
    assert (np.asarray(trace["score_out"]) == want).all()
    assert (interp.run(g, x)["score_out"] == interp.run_reference(g, x)["score_out"]).all()


@pytest.mark.unit
def test_exact_types_follow_the_interval() -> None:
    g = encoder()
    t, acc = g.tensor("score_out").type, g.node("score").attrs.accum_type
    # 8 squares of at most 2048² codes at frac 14: 2^22 · 8 = 2^25 -> 26 unsigned bits
    assert (acc.signed, acc.frac, acc.width) == (False, 14, 26)
    assert not t.signed and t.frac == 14 and t.width <= acc.width


@pytest.mark.unit
def test_rejects_a_matrix_input() -> None:
    layers = [(Node("score", "sum_squares", ("x",), ("s",)), Tensor("s", (1,)))]
    with pytest.raises(IRError, match="node 'score': sum_squares maps a vector"):
        infer_precision(chain("bad", Tensor("x", (4, 2), INPUT), layers)).validate()


@pytest.mark.unit
def test_estimate_counts_squares_and_tree() -> None:
    from hwai.estimate import estimate

    cost = estimate(encoder(), Target()).per_node["score"]
    assert cost.lut + 100 * cost.dsp > LATENT * 12 and cost.latency_cycles >= 1


@pytest.mark.csim
def test_native_apfixed_and_int_csim_equal_golden(case, tmp_path: Path) -> None:
    from hwai.sim.fast_csim import csim_fast

    g, x, golden = case
    assert native_apfixed_mismatches(g, TARGET, x, golden, tmp_path) == 0
    assert mismatches(csim_fast(g, x), golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert verilator_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    """hls4ml gets Merge(multiply) of the latent with itself and a Dense of ones with the exact
    accumulator; every type is checked after conversion and its C-sim equals the golden model."""
    pytest.importorskip("hls4ml")
    needs("g++")
    g, x, golden = case
    hls = hls4ml_model(g, TARGET, x[:4], tmp_path / "hls")
    layers = {l.name: l for l in hls.get_layers()}
    assert layers["score_squares"].class_name == "Merge" and layers["score_squares"].get_attr("op") == "multiply"
    assert layers["score"].class_name == "Dense"
    assert hls4ml_mismatches(g, hls, x, golden) == 0


@pytest.mark.csim
def test_hls4ml_io_stream_is_refused_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import to_hls4ml
    from hwai.errors import UnsupportedLayerError

    stream = Target(project_name="score", io_type="io_stream")
    with pytest.raises(UnsupportedLayerError, match="node 'score': hls4ml's io_stream Merge .* io_parallel"):
        to_hls4ml(encoder(), tmp_path / "hls", stream, vectors=np.zeros((4, N_IN), np.int64))
