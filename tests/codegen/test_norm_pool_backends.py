"""Standalone batchnorm and sliding-window pooling in every backend: the golden model (fast path
== int64 reference), native ap_fixed and int64 C simulations, Verilator and hls4ml's C simulation
agree on >= 10,000 vectors (make_vectors: corner vectors included) for models built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    hls4ml_mismatches,
    hls4ml_model,
    native_apfixed_mismatches,
    native_int_mismatches,
    verilator_mismatches,
)
from tests.data.norm_helpers import bn_graph, bn_input_graph, pool_graph

N_VECTORS = 10_000
TARGET = Target(project_name="normpool")
NARROW = FixedType(7, 3, True, "RND", "SAT")   # the output cast rounds and saturates

DESIGNS = {
    "bn_after_relu": lambda: bn_graph(),
    "bn_narrow_out": lambda: bn_graph(out_type=NARROW),
    "bn_per_row": lambda: bn_graph((4, 6)),
    "bn_on_input": lambda: bn_input_graph(),
    "maxpool1d": lambda: pool_graph((8, 3), "max", (2,), (2,)),
    "avgpool1d_overlap": lambda: pool_graph((9, 3), "avg", (4,), (1,), out_type=FixedType(6, 3, False, "RND", "SAT")),
    "avgpool2d": lambda: pool_graph((4, 4, 2), "avg", (2, 2), (2, 2)),
    "maxpool2d_strided": lambda: pool_graph((5, 5, 2), "max", (3, 2), (2, 1)),
    "avgpool2d_global_avg": lambda: pool_graph((4, 4, 2), "avg", (2, 2), (2, 2), then_global="avg"),
    "global_max_2d": lambda: pool_graph((3, 5, 2), "max", (), (), then_global="max"),
}


# three designs (one of each kind) keep the default tier short; the rest run with -m slow
QUICK = ("bn_narrow_out", "maxpool1d", "avgpool2d")


@pytest.fixture(scope="module", params=[pytest.param(k, marks=() if k in QUICK else pytest.mark.slow)
                                        for k in sorted(DESIGNS)])
def case(request) -> tuple[Graph, np.ndarray, np.ndarray]:
    g = DESIGNS[request.param]()
    x = make_vectors(g, N_VECTORS, seed=7)
    return g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_fast_path_equals_reference_and_outputs_vary(case) -> None:
    g, x, golden = case
    assert len(x) >= N_VECTORS
    ref = interp.run_reference(g, x)[g.outputs[0]].reshape(len(x), -1)
    assert (ref == golden).all()
    assert len(np.unique(golden, axis=0)) > 1000      # the comparisons below can fail


@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert native_apfixed_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_int_csim_equals_golden(case) -> None:
    g, x, golden = case
    assert native_int_mismatches(g, x, golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert verilator_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert hls4ml_mismatches(g, hls4ml_model(g, TARGET, x, tmp_path), x, golden) == 0
