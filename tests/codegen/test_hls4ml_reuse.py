"""reuse_factor > 1 through the hls4ml bridge: hls4ml's Resource strategy where a layer's sum is
order-free (a wrapping accumulator holding every term), its Latency strategy (ALLOCATION-limited
multipliers, the golden model's order) otherwise; C simulation equal to the golden model on
>= 10,000 vectors; invalid Resource reuse factors refused (exit 2) instead of hls4ml's silent
change; the estimator's II/latency rule (one place: ``hwai.estimate.cost.with_timing``); and the
recipe fields (``lower.reuse_factor``, ``lower.layers.<name>.reuse_factor``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwai.codegen.native import golden_outputs
from hwai.estimate import estimate
from hwai.ir.graph import Graph
from hwai.passes.pipeline import with_reuse_factor
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import hls4ml_mismatches, hls4ml_model
from tests.codegen.test_conv_backends import conv1d_design
from tests.ir.helpers import mlp_graph
from tests.recipe.test_runner import fake  # noqa: F401  (fixture: a fake engine and dataset)

N_VECTORS = 10_000
PARALLEL = Target(project_name="reuse")
STREAM = Target(project_name="reuse", io_type="io_stream")


def dense_chain(rf: int = 4) -> Graph:
    return with_reuse_factor(mlp_graph((16, 24, 12, 5), seed=2, sparsity=0.3), rf)


def conv1d(rf: int = 3) -> Graph:
    """c1 (9x4 products, wrapping accumulator) -> Resource; c2 (narrow saturating accumulator) -> Latency."""
    return with_reuse_factor(conv1d_design(), rf)


CASES = {"dense_chain_parallel": (dense_chain, PARALLEL, {"fc1": "resource", "fc2": "resource"}),
         "conv1d_parallel": (conv1d, PARALLEL, {"c1": "resource", "c2": "latency", "out": "resource"}),
         "conv1d_stream": (conv1d, STREAM, {"c1": "resource", "c2": "latency"})}


QUICK = ("dense_chain_parallel", "conv1d_parallel")   # the rest with -m slow (each ~30-60 s here)


@pytest.fixture(scope="module", params=[pytest.param(k, marks=() if k in QUICK else pytest.mark.slow)
                                        for k in sorted(CASES)])
def case(request):
    build, target, strategies = CASES[request.param]
    g = build()
    x = make_vectors(g, N_VECTORS, seed=13)
    return g, target, strategies, x, golden_outputs(g, x)


@pytest.mark.csim
def test_hls4ml_reuse_csim_equals_golden(case, tmp_path: Path) -> None:
    g, target, strategies, x, golden = case
    hls_model = hls4ml_model(g, target, x, tmp_path)
    rf = {n: int(hls_model.graph[n].get_attr("reuse_factor")) for n in strategies}
    assert set(rf.values()) == {int(g.node(n).impl["reuse_factor"]) for n in strategies} and max(rf.values()) > 1
    assert {n: str(hls_model.graph[n].get_attr("strategy")).lower() for n in strategies} == strategies
    assert hls4ml_mismatches(g, hls_model, x, golden) == 0


@pytest.mark.csim
@pytest.mark.slow
def test_resource_strategy_on_a_saturating_accumulator_would_differ(tmp_path: Path, monkeypatch) -> None:
    """Why a saturating layer keeps Latency: hls4ml's Resource kernel adds in another order."""
    from hwai.ops.dense import Dense

    g = conv1d()
    x = make_vectors(g, 2000, seed=13)
    monkeypatch.setattr(Dense, "sum_order_free", lambda self, graph, node: True)
    hls_model = hls4ml_model(g, PARALLEL, x, tmp_path)
    assert str(hls_model.graph["c2"].get_attr("strategy")).lower() == "resource"
    assert hls4ml_mismatches(g, hls_model, x, golden_outputs(g, x)) > 0


@pytest.mark.unit
def test_invalid_resource_reuse_factor_is_refused(tmp_path: Path) -> None:
    """hls4ml would quietly build c1 (9x4 products) with RF 3 instead of 4; hwai refuses."""
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import to_hls4ml
    from hwai.errors import UnsupportedLayerError

    g = conv1d(rf=4)
    with pytest.raises(UnsupportedLayerError) as err:
        to_hls4ml(g, tmp_path / "hls", PARALLEL, vectors=make_vectors(g, 10, seed=0))
    assert str(err.value) == ("node 'c1': hls4ml's Resource strategy (reuse_factor > 1) splits the 9x4 products "
                              "of this layer only by 1, 3, 9, 18, 36 (nearest valid reuse factors), not 4; set "
                              "steps.lower.layers.c1.reuse_factor to one of them")
    assert err.value.exit_code == 2


@pytest.mark.unit
def test_hls_config_sets_reuse_factor_and_strategy() -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import hls_config, plan_layers

    g = conv1d()
    cfg = hls_config(g, plan_layers(g))["LayerName"]
    assert {n: (cfg[n]["ReuseFactor"], cfg[n]["Strategy"]) for n in ("c1", "c2", "out")} == \
        {"c1": (3, "Resource"), "c2": (3, "Latency"), "out": (3, "Resource")}
    one = hls_config(conv1d(rf=1), plan_layers(conv1d(rf=1)))["LayerName"]
    assert one["c1"]["ReuseFactor"] == 1 and one["c1"]["Strategy"] == "Latency"


# --- estimator -------------------------------------------------------------------------

@pytest.mark.unit
def test_estimate_io_parallel_ii_is_the_reuse_factor() -> None:
    one, four = estimate(dense_chain(1), PARALLEL), estimate(dense_chain(4), PARALLEL)
    assert one.total.ii == 1 and four.total.ii == 4
    for n in ("fc1", "fc2", "fc3"):   # each layer: R - 1 more cycles, II = R
        assert four.per_node[n].latency_cycles == one.per_node[n].latency_cycles + 3
        assert four.per_node[n].ii == 4
    assert four.total.latency_cycles == one.total.latency_cycles + 3 * 3
    assert four.total.lut < one.total.lut / 3      # multipliers (LUT) shared ~1/R


@pytest.mark.unit
def test_estimate_io_stream_ii_counts_rows_times_reuse() -> None:
    """conv1d: input (8, 3), 'same' k3 -> c1 reads 10 padded pixels; c2 (stride 2, 'same' on 8):
    9 or 10 padded pixels; out reads one flat row. II = max rows * R; the latency adds it once."""
    g1, g3 = conv1d(rf=1), conv1d(rf=3)
    par, s1, s3 = estimate(g1, PARALLEL), estimate(g1, STREAM), estimate(g3, STREAM)
    pads = g1.node("c1_patches").attrs
    rows_c1 = 8 + pads.pad_before[0] + pads.pad_after[0]
    assert s1.per_node["c1"].ii == rows_c1 and s3.per_node["c1"].ii == 3 * rows_c1
    assert s1.per_node["c1_relu"].ii == 8 and s3.per_node["c1_relu"].ii == 8   # relu: one read per row, no R
    assert s1.per_node["out"].ii == 1 and s3.per_node["out"].ii == 3
    assert s3.total.ii == max(c.ii for c in s3.per_node.values())
    assert s1.total.latency_cycles == par.total.latency_cycles + s1.total.ii - 1


@pytest.mark.unit
def test_budget_checks_the_reuse_ii() -> None:
    from hwai.budget import check_budget

    rep = check_budget(estimate(dense_chain(4), PARALLEL), {"ii": 1}, PARALLEL).to_dict()
    row = next(r for r in rep["rows"] if r["resource"] == "ii")
    assert row["used"] == 4 and not row["ok"]


# --- recipe ------------------------------------------------------------------------------

@pytest.mark.unit
def test_per_layer_reuse_factor_in_the_recipe(tmp_path: Path, fake) -> None:  # noqa: F811
    """``lower.layers.fc1.reuse_factor`` sets that layer's impl; the others keep lower.reuse_factor."""
    from hwai.ir.graph import Graph as G
    from hwai.recipe.runner import run_recipe
    from hwai.recipe.schema import recipe_from_dict

    r = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"}, "seed": 0,
                          "steps": [{"train": {"epochs": 1}},
                                    {"lower": {"reuse_factor": 2, "layers": {"fc1": {"reuse_factor": 8}}}}]},
                         Path("t.yaml"))
    run_recipe(r, tmp_path / "run", log=lambda m: None)
    g = G.load(next((tmp_path / "run" / "steps").glob("*_lower")) / "checkpoint")
    assert {n.name: n.impl["reuse_factor"] for n in g.nodes if n.op == "dense"} == {"fc1": 8, "fc2": 2}


@pytest.mark.unit
@pytest.mark.parametrize("layers, expect", [
    ({"fc9": {"reuse_factor": 2}}, "t.yaml: steps[1].lower.layers.fc9: no dense or convolution layer 'fc9' in "
                                   "the model (layers: fc1, fc2)"),
    ({"fc2": {"reuse_factor": 25}}, "t.yaml: steps[1].lower.layers.fc2.reuse_factor: 25 is larger than dense "
                                    "layer 'fc2' (24 multiplications); use at most 24")])
def test_per_layer_reuse_factor_errors(tmp_path: Path, fake, layers: dict, expect: str) -> None:  # noqa: F811
    from hwai.errors import RecipeError
    from hwai.recipe.runner import run_recipe
    from hwai.recipe.schema import recipe_from_dict

    r = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"}, "seed": 0,
                          "steps": [{"train": {"epochs": 1}}, {"lower": {"layers": layers}}]}, Path("t.yaml"))
    with pytest.raises(RecipeError) as err:
        run_recipe(r, tmp_path / "run", log=lambda m: None)
    assert str(err.value) == expect and err.value.exit_code == 2


# --- what the other backends build --------------------------------------------------------

@pytest.mark.unit
def test_native_readme_and_the_report_say_what_each_backend_builds() -> None:
    from types import SimpleNamespace

    from hwai.codegen.native import generate
    from hwai.codegen.verilog import generate_verilog
    from hwai.report.markdown import build_note

    g = dense_chain(4)
    readme = generate(g, STREAM).text("README.md")
    assert "`io_parallel` (hwai's native core always is; the recipe's `target.io_type: io_stream`" in readme
    assert "vitis flavour, `io_parallel`.\n" in generate(g, PARALLEL).text("README.md")   # unchanged text
    assert "#pragma HLS PIPELINE II=4" in generate(g, STREAM).text("firmware/reuse.cpp")
    verilog = generate_verilog(g, STREAM)   # fully unrolled whatever the reuse factor: no II in it
    assert any("Fully unrolled" in verilog.text(f) for f in verilog if f.endswith(".v"))
    note = build_note(SimpleNamespace(graph=g, target=STREAM))
    assert note[0].startswith("Latency and II are estimated for the HLS projects (reuse factors 4; hls4ml "
                              "`io_stream`, native HLS `io_parallel`). hwai's Verilog stays fully unrolled")
    assert build_note(SimpleNamespace(graph=dense_chain(1), target=PARALLEL)) == []
