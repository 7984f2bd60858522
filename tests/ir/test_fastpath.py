"""The fast golden path (float BLAS where proven exact) equals the int64 reference bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwai.estimate.designs import mlp_graph as synthetic_mlp
from hwai.ir import fastpath, interp
from hwai.ir.graph import Graph
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hwai.sim.vectors import make_vectors
from tests.ir.helpers import mlp_graph


def _assert_same(graph: Graph, x: np.ndarray, trace: bool = False) -> None:
    fast = interp.run(graph, x, trace=trace)
    ref = interp.run_reference(graph, x, trace=trace)
    assert set(fast) == set(ref)
    for name in ref:
        assert fast[name].dtype == np.int64, name
        np.testing.assert_array_equal(fast[name], ref[name], err_msg=name)


def _plan(graph: Graph) -> fastpath.Plan:
    return fastpath.build_plan(graph, interp.eval_node)


def test_jet_mlp_100k_vectors_with_corners_bit_exact() -> None:
    g = synthetic_mlp((16, 64, 32, 32, 5), x_bits=16, w_bits=6, sparsity=0.7, seed=4)
    x = make_vectors(g, 100_000, seed=1)
    plan = _plan(g)
    assert plan.fallbacks == {} and len(plan.float_nodes) == len(g.nodes)
    _assert_same(g, x)


@pytest.mark.parametrize("rounding,overflow", list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)))
def test_every_rounding_and_overflow_mode(rounding: str, overflow: str) -> None:
    """Narrow activations and outputs of each mode: rounding ties and overflow are hit."""
    act = FixedType(5, 2, False, rounding, overflow)
    out = FixedType(6, 2, True, rounding, overflow)
    g = mlp_graph((8, 12, 6, 4), seed=7, act=act, out=out, sparsity=0.3)
    assert _plan(g).fallbacks == {}
    x = make_vectors(g, 5000, seed=2)
    _assert_same(g, x)
    _assert_same(g, x[:300], trace=True)


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
def test_signed_quant_shifts_both_ways(rounding: str) -> None:
    """A quant that adds fractional bits (left shift) and a signed relu output type."""
    for out in (FixedType(16, 2, True, rounding, "WRAP"), FixedType(4, 3, True, rounding, "SAT_SYM")):
        g = mlp_graph((6, 5, 3), seed=3, act=FixedType(7, 3, True, rounding, "SAT_ZERO"), out=out)
        _assert_same(g, make_vectors(g, 3000, seed=5))


def test_wrapping_accumulator_saturated_by_corner_vectors() -> None:
    """A narrow WRAP accumulator (modular: float path) overflows on the corner vectors."""
    g = mlp_graph((16, 8, 4), seed=1, accum=FixedType(16, 5, True, "TRN", "WRAP"), sparsity=0.0)
    ta = g.node("fc1").attrs["accum_type"]
    assert ta.frac == 11  # covers x (6) + w (5) fractional bits: modular, float path
    assert _plan(g).fallbacks == {}
    x = make_vectors(g, 20_000, seed=3)
    exact = x @ g.node("fc1").attrs["weight"]  # the unwrapped sum reaches beyond the type
    assert np.abs(exact).max() > 2 * ta.qmax
    _assert_same(g, x)


def test_non_modular_accumulator_falls_back_to_int64() -> None:
    g = mlp_graph((8, 6, 3), seed=2, accum=FixedType(9, 4, True, "RND", "SAT"))
    plan = _plan(g)
    assert set(plan.fallbacks) == {"fc1", "fc2"}
    assert "not modular" in plan.fallbacks["fc1"]
    _assert_same(g, make_vectors(g, 4000, seed=1))


def test_53_bit_proof_fails_and_int64_fallback_is_taken() -> None:
    """40-bit inputs times 14-bit weights into a 48-bit WRAP accumulator: every type fits
    52 bits, but partial sums may reach 2**56 (wrapping is exact only in integers)."""
    g = mlp_graph((16, 8, 4), seed=5, wbits=14, sparsity=0.0,
                  input_type=FixedType(40, 20, True, "TRN", "WRAP"), accum=FixedType(48, 15))
    plan = _plan(g)
    assert "fc1" in plan.fallbacks and "not exact in floats" in plan.fallbacks["fc1"]
    assert any(n.startswith("fc2:") for n in plan.float_nodes)  # later layers still proven
    _assert_same(g, make_vectors(g, 5000, seed=9))


def test_float32_only_where_proven() -> None:
    g = synthetic_mlp((16, 64, 32, 32, 5), x_bits=16, w_bits=6, sparsity=0.0, seed=0)
    dtypes = dict(n.split(":") for n in _plan(g).float_nodes)
    assert dtypes["dense0"] == "float64"       # 16-bit x 6-bit x 16 terms: > 2**23
    assert dtypes["dense1"] == "float32"       # 8-bit activations: fits
    _assert_same(g, make_vectors(g, 20_000, seed=0))


def test_requant_plan_proves_identity_and_overflow() -> None:
    ta = FixedType(12, 6)
    assert fastpath.requant_plan((-2048, 2047), 6, ta).identity
    r = fastpath.requant_plan((-5000, 5000), 6, ta)
    assert r.overflow == "WRAP" and r.round_mode is None
    r = fastpath.requant_plan((-100, 100), 8, FixedType(8, 4, False, "RND", "SAT"), relu=True)
    assert r.relu and r.round_mode == "RND" and r.scale == 0.0625


def test_multi_chunk_and_empty_batches() -> None:
    g = mlp_graph((8, 12, 6, 4), seed=3)
    x = make_vectors(g, fastpath.CHUNK * 2 + 17, seed=4)
    _assert_same(g, x)
    assert interp.run(g, x[:0])[g.outputs[0]].shape == (0, 4)


def test_relu_scale_folded_into_the_dense_weights_only_without_trace() -> None:
    g = synthetic_mlp((8, 16, 4), x_bits=10, w_bits=6, sparsity=0.2, seed=1)
    dtypes = {n.name: fastpath._node_dtype(g, n, {}) for n in g.nodes}
    moved = fastpath._moved_scales(g, dtypes)
    assert set(moved) == {"dense0", "relu0"} and moved["dense0"] < 1.0
    x = make_vectors(g, 3000, seed=2)
    _assert_same(g, x)               # folded plan
    _assert_same(g, x, trace=True)   # traced plan keeps h0 unscaled (it is returned)


def test_plan_cache_follows_in_place_edits() -> None:
    g = mlp_graph((8, 6, 3), seed=4)
    x = make_vectors(g, 500, seed=1)
    before = interp.run(g, x)[g.outputs[0]]
    g.node("fc1").attrs["weight"][:] = 0   # edited in place: the cached plan must not be reused
    _assert_same(g, x)
    assert not np.array_equal(interp.run(g, x)[g.outputs[0]], before)
