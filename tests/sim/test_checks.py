"""Bit-exactness checks across backends, and naming the first diverging layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen import emitters
from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.sim import checks
from hwai.sim.compare import compare
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.ir.helpers import mlp_graph


def _tampered(graph, node_name: str):
    """The same graph with one weight of ``node_name`` changed (a 'wrong design')."""
    node = graph.node(node_name)
    w = np.array(node.attrs["weight"])
    w[0, 0] = 31 if w[0, 0] != 31 else -31
    return graph.with_node(node.with_attrs(weight=w))


def test_first_diverging_layer_is_named() -> None:
    good = mlp_graph((8, 12, 6, 4), seed=5, sparsity=0.0)
    bad = _tampered(good, "fc2")
    x = make_vectors(good, 2000, seed=0)
    design = run(bad, x, trace=True)  # what a broken emitted design would compute, layer by layer
    rep = compare(good, x, design[good.outputs[0]], trace=design)
    assert rep.n_mismatches > 0 and rep.first_layer == "fc2_out"
    assert "fc2_out" in rep.summary
    assert compare(good, x, run(good, x)[good.outputs[0]]).n_mismatches == 0


@pytest.mark.csim
def test_csim_check_catches_a_wrong_native_design(tmp_path: Path) -> None:
    good = mlp_graph((8, 12, 6, 4), seed=5, sparsity=0.0)
    x = make_vectors(good, 5000, seed=0)
    emitters.emit("native", _tampered(good, "fc1"), Target(), tmp_path, x)
    res = checks.csim("native", good, tmp_path, x, log=lambda s: None)
    assert res["mismatches"] > 0 and res["vectors"] == 5000
    emitters.emit("native", good, Target(), tmp_path, x)
    assert checks.csim("native", good, tmp_path, x, log=lambda s: None)["mismatches"] == 0


@pytest.mark.csim
@pytest.mark.slow
def test_reference_qkeras_native_100k_and_backends_agree(tmp_path: Path, qkeras_reference, openml_rows) -> None:
    """Reference QKeras jet model: native C-sim == golden on >= 100k vectors (real rows,
    random, extremes, saturating corners), and native == hls4ml bit for bit."""
    from hwai.frontends.keras import lower_keras
    from hwai.sim.hls4ml_csim import csim_hls4ml_project
    from hwai.sim.native_csim import csim_native

    tin = FixedType(16, 6, True, "RND_CONV", "SAT")
    graph = lower_keras(qkeras_reference, tin, name="jet")
    real = tin.from_float(openml_rows[0])
    x = make_vectors(graph, 100_000, seed=3, real_codes=real)
    for backend in ("native", "hls4ml"):
        emitters.emit(backend, graph, Target(), tmp_path, x[:10_000])
    native = csim_native(graph, tmp_path / "native", x)
    assert compare(graph, x, native).n_mismatches == 0
    hls = csim_hls4ml_project(graph, tmp_path / "hls", x[:10_000])
    np.testing.assert_array_equal(hls, native[:10_000])
