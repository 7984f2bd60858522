"""The integer C-simulation flavour equals the golden model and the ap_fixed flavour bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs
from hwai.codegen.native_int import generate_int, int_cast
from hwai.errors import UnsupportedLayerError
from hwai.estimate.designs import mlp_graph as synthetic_mlp
from hwai.ir.types import FixedType
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.codegen.test_native import coverage_graph, stimulus
from tests.ir.helpers import mlp_graph

pytestmark = pytest.mark.csim


@pytest.fixture(scope="module", autouse=True)
def ap_types() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")


def jet_design():
    return synthetic_mlp((16, 64, 32, 32, 5), x_bits=16, w_bits=6, sparsity=0.7, seed=3, name="jet")


def _three_way(graph, x: np.ndarray) -> None:
    from hwai.sim.fast_csim import load_fast
    from hwai.sim.native_csim import load_native

    gold = golden_outputs(graph, x)
    fast = load_fast(graph)
    apfixed = load_native(generate(graph, Target(), vectors=x[:4])).predict(x)
    for name, got in (("fast 1 thread", fast.predict(x, threads=1)), ("fast", fast.predict(x)),
                      ("ap_fixed", apfixed)):
        bad = int(np.count_nonzero(np.any(got != gold, axis=1)))
        assert bad == 0, f"{name}: {bad}/{len(x)} vectors differ from the golden model"


def test_every_mode_and_narrow_accumulator_equals_golden_and_apfixed() -> None:
    """All 7 rounding x 4 overflow modes, saturating/wrapping/modular accumulators."""
    g = coverage_graph()
    _three_way(g, stimulus(g))


def test_jet_design_equals_golden_and_apfixed() -> None:
    g = jet_design()
    _three_way(g, make_vectors(g, 50_000, seed=2))


@pytest.mark.slow
def test_jet_design_one_million_vectors() -> None:
    g = jet_design()
    _three_way(g, make_vectors(g, 1_000_000, seed=7))


def test_sequential_accumulator_emits_a_cast_per_product() -> None:
    g = mlp_graph((8, 6, 3), seed=2, accum=FixedType(9, 4, True, "RND", "SAT"))
    src = generate_int(g).text("tb/myproject_int.cpp")
    assert "acc = hwai_int::cast<0, 9, true, hwai_int::RND, hwai_int::SAT>(acc + hwai_int::cast<" in src
    assert "ap_fixed<" not in src and "ap_int<" not in src
    _three_way(g, make_vectors(g, 5_000, seed=1))


def test_int_cast_spelling() -> None:
    assert int_cast(8, FixedType(6, 3, False, "RND_CONV", "SAT")) == \
        "hwai_int::cast<5, 6, false, hwai_int::RND_CONV, hwai_int::SAT>"


def test_too_wide_for_int64_is_a_clear_error() -> None:
    g = mlp_graph((4, 3, 2), seed=1, wbits=24, input_type=FixedType(40, 10))
    with pytest.raises(UnsupportedLayerError, match=r"node 'fc1': \w+ needs 6\d bits.*--backends apfixed"):
        generate_int(g)
