"""``add`` and ``concat``: golden semantics against real arithmetic, precision fill, intervals,
cost, shape checks, hls4ml's two-input limit and the critical-path latency of a graph."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.estimate import estimate
from hwai.ir import interp
from hwai.ir.graph import Graph, IRError, Node, Tensor
from hwai.ir.types import FixedType as F
from hwai.passes.precision import infer_precision, intervals
from hwai.target import Target
from tests.ops.graph_helpers import hybrid_graph, skip_graph

A, B, C = F(6, 2), F(5, 1, False), F(9, 6, True, "RND", "SAT")


def _merge(op: str, types: list[F], shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
           out_type: F | None = None, **attrs) -> Graph:
    names = [f"x{k}" for k in range(len(types))]
    tensors = {n: Tensor(n, s, t) for n, s, t in zip(names, shapes, types)}
    tensors["y"] = Tensor("y", out_shape, out_type)
    return infer_precision(Graph("m", tuple(names), ("y",), tensors, (Node("m", op, tuple(names), ("y",), attrs),)))


def _codes(g: Graph, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t: rng.integers(g.tensor(t).type.qmin, g.tensor(t).type.qmax, (n, *g.tensor(t).shape), endpoint=True)
            for t in g.inputs}


@pytest.mark.unit
def test_add_is_the_exact_sum_aligned_on_the_finest_fraction() -> None:
    g = _merge("add", [A, B, C], [(3, 2)] * 3, (3, 2))
    xs = _codes(g, 5000, 0)
    want = sum(g.tensor(t).type.to_float(xs[t]) for t in g.inputs)
    out = g.tensor("y").type
    assert out.frac == 4 and out.width == 11            # exact: finest fraction, the sum's range
    got = out.to_float(interp.run(g, xs)["y"])
    assert np.array_equal(got, want)
    lo, hi, frac = intervals(g)["y"]
    assert frac == 4 and min(lo) == A.qmin + B.qmin + (C.qmin << 1) and max(hi) == A.qmax + B.qmax + (C.qmax << 1)


@pytest.mark.unit
def test_add_casts_into_a_narrower_output_type() -> None:
    out = F(6, 3, True, "TRN", "SAT")
    g = _merge("add", [A, B], [(4,)] * 2, (4,), out)
    xs = _codes(g, 2000, 1)
    exact = A.to_float(xs["x0"]) + B.to_float(xs["x1"])
    want = np.clip(np.floor(exact * 8) / 8, out.min_value, out.max_value)
    assert np.array_equal(out.to_float(interp.run(g, xs)["y"]), want)


@pytest.mark.unit
def test_concat_keeps_every_input_exactly_in_the_covering_type() -> None:
    g = _merge("concat", [A, C], [(2, 3), (2, 4)], (2, 7), axis=-1)
    out = g.tensor("y").type
    assert (out.width, out.integer, out.signed) == (10, 6, True)   # frac 4 of A, range of C
    xs = _codes(g, 1000, 2)
    want = np.concatenate([A.to_float(xs["x0"]), C.to_float(xs["x1"])], axis=2)
    assert np.array_equal(out.to_float(interp.run(g, xs)["y"]).reshape(1000, 2, 7), want)
    lo, hi, _ = intervals(g)["y"]
    assert lo[0] == A.qmin and lo[3] == C.qmin << 1 and hi[3] == C.qmax << 1   # (0, 3) is x1[0, 0]


@pytest.mark.unit
def test_concat_on_the_first_axis_and_with_a_narrower_output() -> None:
    g = _merge("concat", [A, A], [(2, 3), (1, 3)], (3, 3), axis=0)
    xs = _codes(g, 100, 3)
    got = g.tensor("y").type.to_float(interp.run(g, xs)["y"]).reshape(100, 3, 3)
    assert np.array_equal(got, np.concatenate([A.to_float(xs["x0"]), A.to_float(xs["x1"])], axis=1))
    out = F(4, 2, True, "RND", "SAT")   # a user-set narrower output: each input is cast into it
    g = _merge("concat", [A, B], [(3,), (2,)], (5,), out, axis=0)
    xs = _codes(g, 500, 4)
    want = np.concatenate([A.to_float(xs["x0"]), B.to_float(xs["x1"])], axis=1)
    assert np.array_equal(out.to_float(interp.run(g, xs)["y"]), out.to_float(out.from_float(want)))


@pytest.mark.unit
def test_shape_checks_name_the_node() -> None:
    with pytest.raises(IRError, match="node 'm': add needs two or more inputs"):
        _merge("add", [A, B], [(3,), (4,)], (3,))
    with pytest.raises(IRError, match="node 'm': concat on axis 0"):
        _merge("concat", [A, B], [(2, 3), (2, 4)], (4, 3), axis=0)


@pytest.mark.unit
def test_costs_and_graph_latency_follow_the_longest_path() -> None:
    e = estimate(skip_graph(), Target())
    assert e.per_node["skip"].lut > 0 and e.per_node["skip"].latency_cycles == 0
    # fc1 -> fc2 -> (add) -> fc3: three registered layers on the longest path
    assert e.total.latency_cycles == 3
    h = estimate(hybrid_graph(), Target())
    assert h.per_node["join"].lut == 0          # the covering type holds both inputs: wiring only
    assert h.total.latency_cycles == 3          # phi -> pool -> rho; the features wait


@pytest.mark.unit
def test_hls4ml_merges_take_two_inputs() -> None:
    from hwai.codegen.hls4ml_bridge import plan_layers

    g = _merge("add", [A, B, C], [(3,)] * 3, (3,))
    layer = plan_layers(g)[0]
    from hwai.ir.registry import op_of
    with pytest.raises(UnsupportedLayerError, match="node 'm': hls4ml's Merge takes two inputs, not 3"):
        op_of(layer.node).hls4ml_layer_dicts(g, layer)


# --- every backend on IR graphs whose merges also round and saturate -------------------------

N_VECTORS = 10_000
# exact merge types are checked on the Keras-built models (tests/codegen/test_graph_backends.py)
CASES = {"skip_narrow": lambda: skip_graph(skip_type=F(7, 3, True, "RND", "SAT")),
         "hybrid_narrow": lambda: hybrid_graph(join_type=F(7, 2, True, "RND_CONV", "SAT"))}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request) -> tuple[Graph, np.ndarray, np.ndarray]:
    from hwai.codegen.native import golden_outputs
    from hwai.sim.vectors import make_vectors

    g = CASES[request.param]().validate()
    x = make_vectors(g, N_VECTORS, seed=7)
    return g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_fast_path_equals_reference_and_outputs_vary(case) -> None:
    from hwai.codegen.native import split_inputs

    g, x, golden = case
    ref = interp.run_reference(g, split_inputs(g, x))
    assert np.array_equal(np.concatenate([ref[o].reshape(len(x), -1) for o in g.outputs], axis=1), golden)
    assert len(np.unique(golden, axis=0)) > 1000


@pytest.mark.csim
def test_native_apfixed_and_int_csim_equal_golden(case, tmp_path) -> None:
    from hwai.sim.fast_csim import csim_fast
    from tests.backend_checks import mismatches, native_apfixed_mismatches, needs

    g, x, golden = case
    assert native_apfixed_mismatches(g, Target(project_name=g.name), x, golden, tmp_path) == 0
    needs("g++")
    assert mismatches(csim_fast(g, x), golden) == 0


@pytest.mark.slow   # a Verilator build per case (~1 min); the Keras-built graphs check Verilator by default
@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path) -> None:
    from hwai.codegen.verilog import generate_verilog
    from hwai.sim.rtl import rtl_sim
    from tests.backend_checks import mismatches, needs

    needs("verilator")
    g, x, golden = case
    got = rtl_sim(g, generate_verilog(g, Target(project_name=g.name), stages=2), x, workdir=tmp_path)
    assert mismatches(got, golden) == 0


@pytest.mark.slow   # an hls4ml build per case (~1 min); the Keras-built graphs check hls4ml by default
@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path) -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml
    from tests.backend_checks import mismatches, needs

    needs("g++")
    g, x, golden = case
    hls_model = to_hls4ml(g, tmp_path / "hls", Target(project_name=g.name), vectors=x[:200])
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(g, hls_model, x), golden) == 0


@pytest.mark.unit
def test_per_layer_synthesis_parts_of_a_graph_are_valid_graphs() -> None:
    """Hierarchical synthesis cuts before each dense: a part holding a merge reads the other
    branch as an extra input, and a part returns what later parts (or the graph) read."""
    from hwai.synth.yosys import split_graph

    parts = split_graph(skip_graph())
    assert [(p.inputs, p.outputs) for p in parts] == [(("x",), ("r1",)), (("r1", "x"), ("r2",)), (("r2",), ("fc3",))]
    parts = split_graph(hybrid_graph())
    assert parts[0].inputs == ("particles", "features") and parts[0].outputs == ("pool", "join")
    for p in parts:
        p.validate()
