"""Per-particle dense (dense on a (P, F) tensor, the Deep Sets phi network) in every backend:
the golden model (fast path == int64 reference) and the native ap_fixed / int64 C simulations,
Verilator and hls4ml's C simulation agree on >= 10,000 vectors with corner vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    mismatches,
    native_apfixed_mismatches,
    native_int_mismatches,
    needs,
    verilator_mismatches,
)
from tests.data.particle_helpers import particle_graph

N_VECTORS = 10_000
TARGET = Target(project_name="phi")


@pytest.fixture(scope="module")
def design() -> Graph:
    return particle_graph(p=8, sizes=(4, 6, 5)).validate()


@pytest.fixture(scope="module")
def vectors(design: Graph) -> np.ndarray:
    return make_vectors(design, N_VECTORS, seed=3)


@pytest.fixture(scope="module")
def golden(design: Graph, vectors: np.ndarray) -> np.ndarray:
    return golden_outputs(design, vectors)




@pytest.mark.unit
def test_golden_is_a_per_row_dense(design: Graph, vectors: np.ndarray, golden: np.ndarray) -> None:
    """Each particle's outputs are the flat 4-6-5 network on that particle alone."""
    from tests.data.particle_helpers import particle_graph as build

    flat = build(p=1).validate()
    rows = vectors.reshape(-1, 8, 4)[:500]
    per_row = golden_outputs(flat, rows.reshape(-1, 4)).reshape(500, -1)
    assert golden.shape == (N_VECTORS, 8 * 5) and (per_row == golden[:500]).all()
    assert (interp.run_reference(design, vectors)[design.outputs[0]].reshape(N_VECTORS, -1) == golden).all()
    assert len(np.unique(golden, axis=0)) > 1000      # outputs vary: the comparisons can fail


@pytest.mark.unit
def test_native_layer_loops_over_rows(design: Graph) -> None:
    text = generate(design, TARGET).text("firmware/layers/dense_fc1.h")
    assert "on each of 8 rows" in text and "x_all[32]" in text and "y_all + r * 6" in text


@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                           tmp_path: Path) -> None:
    assert native_apfixed_mismatches(design, TARGET, vectors, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_int_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray) -> None:
    assert native_int_mismatches(design, vectors, golden) == 0


@pytest.mark.rtl
@pytest.mark.parametrize("stages", [1, 2])
def test_verilator_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray, tmp_path: Path,
                                 stages: int) -> None:
    assert verilator_mismatches(design, TARGET, vectors, golden, tmp_path, stages) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray, tmp_path: Path) -> None:
    """hls4ml turns the Dense on (P, F) into a pointwise Conv1D; precisions set and checked as for Dense."""
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    hls_model = to_hls4ml(design, tmp_path / "hls", TARGET, vectors=vectors[:200])
    assert type(hls_model.graph["fc1"]).__name__.endswith("Conv1D")
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(design, hls_model, vectors), golden) == 0


@pytest.mark.unit
def test_estimate_counts_every_particle_copy() -> None:
    """Fully unrolled, a per-particle dense is P copies of the network: P times the adders."""
    from hwai.estimate import estimate

    one = estimate(particle_graph(p=1).validate(), TARGET).per_node
    eight = estimate(particle_graph(p=8).validate(), TARGET).per_node
    for name in ("fc1", "fc2"):
        assert eight[name].lut == pytest.approx(8 * one[name].lut, rel=0.2), name
        assert eight[name].latency_cycles == one[name].latency_cycles
