"""torch ``quantize: {method: hgq}``: learned per-weight/per-neuron bit widths, exact lowering."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.torch import TorchEngine, hetero  # noqa: E402
from hwai.errors import RecipeError, UnsupportedLayerError  # noqa: E402
from hwai.frontends.brevitas import reference_codes  # noqa: E402
from hwai.ir.interp import run  # noqa: E402
from hwai.ir.numeric import DEFAULT_TYPE  # noqa: E402
from hwai.sim.vectors import corner_vectors, make_vectors  # noqa: E402
from tests.engines.synthetic import argmax5  # noqa: E402

pytestmark = pytest.mark.unit
MODEL = {"arch": "jet_mlp", "hidden": [16, 8]}
# few rows but many optimizer steps and a large rate: bit widths move ~lr per step under Adam
HGQ = {"method": "hgq", "epochs": 4, "batch_size": 32, "learning_rate": 3e-2, "init_bits": 4}


def synth(n: int = 1500, seed: int = 0) -> Dataset:
    return argmax5(n, seed)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synth()


@pytest.fixture(scope="module")
def trained(data: Dataset):
    torch.set_num_threads(1)
    eng = TorchEngine()
    return eng.train(eng.build(MODEL, data, 0), data, {"epochs": 6, "batch_size": 32, "learning_rate": 1e-2}, 0)


@pytest.fixture(scope="module")
def by_beta(trained, data: Dataset) -> dict:
    """One hgq model per penalty, all from the same float model and seed."""
    torch.set_num_threads(1)
    return {beta: TorchEngine().quantize(trained, data, {**HGQ, "beta": beta}, 0) for beta in (0.0, 1e-5, 1e-3)}


def test_ebops_fall_as_beta_grows(by_beta: dict, data: Dataset) -> None:
    eng = TorchEngine()
    cost = {b: eng.ebops(m) for b, m in by_beta.items()}
    assert cost[1e-3] < cost[1e-5] < cost[0.0]
    assert cost[1e-3] < 0.6 * cost[0.0]
    for m in by_beta.values():   # still a classifier, not a constant
        assert (eng.logits(m, data.x_test).argmax(1) == data.y_test).mean() > 0.5


def test_a_larger_beta_gives_fewer_bits_and_more_zero_weights(by_beta: dict) -> None:
    eng = TorchEngine()
    small, large = eng.bit_widths(by_beta[0.0]), eng.bit_widths(by_beta[1e-3])
    assert set(small) == {"input_quant", "fc1", "fc2", "output"}
    assert set(small["fc1"]) == {"weight", "weight_min", "weight_mean", "activation", "activation_min",
                                 "activation_mean"}                  # the Keras hgq engine's keys
    assert sum(v.get("weight_mean", 0) for v in large.values()) < sum(v.get("weight_mean", 0) for v in small.values())
    assert sum(v["activation_mean"] for k, v in large.items() if k != "output") < \
        sum(v["activation_mean"] for k, v in small.items() if k != "output")
    assert sum(eng.sparsity(by_beta[1e-3]).values()) > sum(eng.sparsity(by_beta[0.0]).values())


def test_golden_model_equals_the_torch_forward_pass(by_beta: dict, data: Dataset) -> None:
    model = by_beta[1e-5]
    graph = TorchEngine().lower(model, DEFAULT_TYPE, {})
    tin = graph.tensor(graph.inputs[0]).type
    codes = make_vectors(graph, 10_000, 0, tin.from_float(data.x_test))
    assert len(codes) == 10_000 and len(corner_vectors(graph)) > 0
    golden = run(graph, codes)[graph.outputs[0]]
    np.testing.assert_array_equal(reference_codes(model, graph, tin.to_float(codes)), golden)


def test_lowered_graph_carries_the_learned_types(by_beta: dict) -> None:
    model = by_beta[1e-5]
    graph = TorchEngine().lower(model, DEFAULT_TYPE, {"input": {"width": 12, "integer": 5}})
    assert [(n.name, n.op) for n in graph.nodes] == [
        ("input_quant", "quant"), ("fc1", "dense"), ("relu1", "relu"), ("relu1_quant", "quant"),
        ("fc2", "dense"), ("relu2", "relu"), ("relu2_quant", "quant"), ("output", "dense")]
    assert graph.tensor(graph.inputs[0]).type.width == 12
    q = graph.node("input_quant").attrs
    np.testing.assert_array_equal(q.widths, model.input_quant.width.numpy())
    assert not graph.node("relu1_quant").attrs.signed.any()           # unsigned after a ReLU
    assert graph.tensor("relu1_quant").type.rounding == "RND"
    fc1 = graph.node("fc1").attrs
    codes, widths, _ = hetero.weight_types(model.fc1)
    np.testing.assert_array_equal(fc1.weight_widths, widths.T)
    assert ((fc1.weight == 0) == (fc1.weight_widths == 0)).all()
    assert len(np.unique(fc1.weight_widths)) > 2                      # heterogeneous, not uniform


def test_pruned_zeros_stay_zero(trained, data: Dataset) -> None:
    eng = TorchEngine()
    pruned = eng.prune(trained, data, {"sparsity": 0.5, "epochs": 2, "batch_size": 64}, 0)
    zeros = {n: (m.weight.detach() == 0).numpy() for n, m in pruned.named_children() if hasattr(m, "weight")}
    q = eng.quantize(pruned, data, {**HGQ, "beta": 0.0, "epochs": 2}, 0)
    graph = eng.lower(q, DEFAULT_TYPE, {})
    for name, z in zeros.items():
        assert z.mean() >= 0.5
        assert (graph.node(name).attrs.weight.T[z] == 0).all()
        assert eng.sparsity(q)[name] >= z.mean()


def test_checkpoint_round_trip(by_beta: dict, data: Dataset, tmp_path) -> None:
    eng = TorchEngine()
    model = by_beta[1e-5]
    eng.save(model, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")
    assert hetero.is_hetero(back)
    np.testing.assert_array_equal(eng.logits(back, data.x_test), eng.logits(model, data.x_test))
    assert eng.ebops(back) == eng.ebops(model)
    eng.save(back, tmp_path / "again")   # a restored model checkpoints again
    assert (tmp_path / "again" / "arch.json").read_text() == (tmp_path / "ckpt" / "arch.json").read_text()


def test_surrogate_tracks_the_exact_cost(by_beta: dict, data: Dataset) -> None:
    """The differentiable EBOPs over-counts (no trailing-zero credit) but follows the real one."""
    model = by_beta[1e-5]
    model.train()
    for q in model.modules():
        if isinstance(q, hetero.HQuant):
            q.reset_record()
    with torch.no_grad():
        model(torch.as_tensor(data.x_train))
        surrogate = float(hetero.surrogate_ebops(model))
    model.eval()
    exact = TorchEngine().ebops(model)
    assert exact <= surrogate <= 3 * exact


def test_float64_guard_names_the_layer(by_beta: dict, monkeypatch) -> None:
    from hwai.engines.torch import hetero_lower

    monkeypatch.setattr(hetero_lower, "FLOAT64_BITS", 4)
    with pytest.raises(UnsupportedLayerError, match="layer 'fc1': its .*-bit accumulator exceeds float64"):
        TorchEngine().lower(by_beta[1e-5], DEFAULT_TYPE, {})


def test_bad_method_and_beta_are_one_line_recipe_errors(trained, data: Dataset) -> None:
    eng = TorchEngine()
    with pytest.raises(RecipeError, match="quantize.method 'hqg': the torch engine knows uniform and hgq") as info:
        eng.quantize(trained, data, {"method": "hqg"}, 0)
    assert info.value.exit_code == 2
    with pytest.raises(RecipeError, match=r"quantize.beta -1: give a number >= 0"):
        eng.quantize(trained, data, {"method": "hgq", "beta": -1}, 0)


def test_layers_hgq_cannot_take_are_refused_before_training(data: Dataset) -> None:
    nn = torch.nn
    no_relu = nn.Sequential(nn.Linear(16, 8), nn.Linear(8, 5))
    with pytest.raises(UnsupportedLayerError, match="layer '1': quantize.method hgq needs a ReLU") as info:
        hetero.to_hetero(no_relu, 2)
    assert info.value.exit_code == 2
    eng = TorchEngine()
    uniform = eng.quantize(eng.build(MODEL, data, 0), data, {"epochs": 0}, 0)
    assert eng.ebops(uniform) > 0          # ebops works on every lowerable torch model
    with pytest.raises(UnsupportedLayerError, match=r"layer 'input_quant' \(QuantIdentity\): quantize.method hgq "
                                                    "starts from a float"):
        eng.quantize(uniform, data, {**HGQ, "beta": 1e-5}, 0)


def test_brevitas_export_keeps_every_weight_and_lowers(by_beta: dict, data: Dataset) -> None:
    from hwai.engines.torch.hetero_lower import to_brevitas

    model = by_beta[1e-5]
    exported = to_brevitas(model)
    for name in ("fc1", "fc2", "output"):
        w, b = getattr(model, name).exact_params()
        q = getattr(exported, name)
        np.testing.assert_array_equal(q.quant_weight().value.detach().double().numpy(), w.numpy())
        np.testing.assert_array_equal(q.quant_bias().value.detach().double().numpy(), b.numpy())
    eng = TorchEngine()
    graph = eng.lower(exported, DEFAULT_TYPE, {})   # the ordinary Brevitas frontend, exact for its own model
    tin = graph.tensor(graph.inputs[0]).type
    codes = tin.from_float(data.x_test)
    np.testing.assert_array_equal(reference_codes(exported, graph, tin.to_float(codes)), run(graph, codes)[graph.outputs[0]])
    # the per-tensor activation casts only approximate the per-neuron ones
    agree = (eng.logits(exported, data.x_test).argmax(1) == eng.logits(model, data.x_test).argmax(1)).mean()
    assert agree > 0.8


def test_recipe_runs_hgq_on_torch_through_lower_and_estimate(tmp_path) -> None:
    import json

    from hwai.cli import main
    from tests.cli_fixtures import tiny_recipe

    recipe = tiny_recipe(tmp_path, steps=[{"train": {"epochs": 2}},
                                          {"quantize": {"method": "hgq", "beta": 1e-5, "epochs": 2}},
                                          "lower", "estimate"],
                         model={"framework": "torch", "arch": "jet_mlp", "hidden": [4]})
    assert main(["compress", str(recipe), "--out", str(tmp_path / "run")]) == 0
    steps = tmp_path / "run" / "steps"
    widths = json.loads((steps / "02_quantize" / "report.json").read_text())["bit_widths"]
    assert set(widths) == {"input_quant", "fc1", "output"} and "weight_mean" in widths["fc1"]   # hgq widths
    graph = json.loads((steps / "03_lower" / "checkpoint" / "graph.json").read_text())
    assert [n["op"] for n in graph["nodes"]] == ["quant", "dense", "relu", "quant", "dense"]


def test_budget_search_finds_beta_for_a_torch_model(tmp_path) -> None:
    """The recipe's budget search (quantize.search) drives this engine like the Keras one."""
    import json

    import yaml

    from hwai.cli import main
    from tests.cli_fixtures import tiny_data

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "search_torch", "seed": 0, "model": {"framework": "torch", "arch": "jet_mlp", "hidden": [12]},
        "data": {"source": str(tiny_data(tmp_path / "d.npz", rows=600, features=6, classes=3))},
        "budget": {"lut": 1100},
        "steps": [{"train": {"epochs": 2}},
                  {"quantize": {"method": "hgq", "epochs": 3, "batch_size": 16, "learning_rate": 0.03,
                                "search": {"cost": "lut", "runs": 8, "beta_start": 1e-6}}},
                  {"lower": {"input": {"width": 10, "integer": 4}}}, "estimate", "budget"]}))
    run = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(run)]) == 0
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    chosen = [p for p in rep["probes"] if p["chosen"]]
    assert len(chosen) == 1 and chosen[0]["fits"] and chosen[0]["beta"] == rep["beta"]
    assert rep["probes"][0]["lut"] > 1100                              # the search had to work for it
    est = json.loads((run / "steps" / "04_estimate" / "report.json").read_text())
    assert est["total"]["lut"] == pytest.approx(chosen[0]["lut"], abs=0.1) and est["total"]["lut"] <= 1100


def test_a_zero_bit_neuron_is_the_constant_zero_in_both(by_beta: dict, data: Dataset) -> None:
    import copy

    model = copy.deepcopy(by_beta[1e-5])
    model.relu1_quant.width[:3] = 0           # as tracing sets it for a neuron that never fires
    model.input_quant.width[0] = 0            # and for a feature that always rounds to 0
    graph = TorchEngine().lower(model, DEFAULT_TYPE, {})
    assert (graph.node("relu1_quant").attrs.widths[:3] == 0).all()
    tin = graph.tensor(graph.inputs[0]).type
    codes = make_vectors(graph, 2000, 1, tin.from_float(data.x_test))
    trace = run(graph, codes, trace=True)
    assert not trace["relu1_quant"][:, :3].any() and not trace["input_quant"][:, 0].any()
    np.testing.assert_array_equal(reference_codes(model, graph, tin.to_float(codes)), trace[graph.outputs[0]])


def test_default_input_type_makes_real_rows_exact_too(by_beta: dict, data: Dataset) -> None:
    """Truncating the input first, then rounding per feature, is one rounding: the firmware
    equals the torch logits on real (off-grid) rows, not only on grid vectors."""
    from hwai.ir.interp import run_float

    model = by_beta[1e-5]
    eng = TorchEngine()
    graph = eng.lower(model, DEFAULT_TYPE, {})
    tin = graph.tensor(graph.inputs[0]).type
    assert (tin.rounding, tin.integer, tin.overflow) == ("TRN", DEFAULT_TYPE.integer, DEFAULT_TYPE.overflow)
    assert tin.frac > int(torch.round(model.input_quant.frac).max())
    np.testing.assert_array_equal(run_float(graph, data.x_test), eng.logits(model, data.x_test))
    explicit = eng.lower(model, DEFAULT_TYPE, {"input": {"width": 16, "integer": 6}})
    assert explicit.tensor(explicit.inputs[0]).type == DEFAULT_TYPE       # the user's type is kept


@pytest.mark.slow
@pytest.mark.csim
@pytest.mark.rtl
def test_hgq_torch_design_is_bit_exact_in_every_backend(tmp_path) -> None:
    """train -> quantize hgq -> lower -> native and hls4ml C-sim and Verilator: 0 mismatches."""
    import json
    import shutil

    from hwai.cli import main
    from tests.cli_fixtures import tiny_recipe

    if not (shutil.which("g++") and shutil.which("verilator")):
        pytest.skip("g++ and verilator are needed")
    recipe = tiny_recipe(tmp_path, steps=[{"train": {"epochs": 2}},
                                          {"quantize": {"method": "hgq", "beta": 1.0e-5, "epochs": 2}},
                                          "lower", {"emit": {"backend": ["native", "hls4ml"]}},
                                          {"csim": {"vectors": 3000}}, {"rtl": {"vectors": 3000}}],
                         model={"framework": "torch", "arch": "jet_mlp", "hidden": [8]})
    assert main(["compress", str(recipe), "--out", str(tmp_path / "run")]) == 0
    steps = tmp_path / "run" / "steps"
    csim = json.loads((steps / "05_csim" / "report.json").read_text())["backends"]
    assert {b: (r["mismatches"], r["vectors"]) for b, r in csim.items()} == {"native": (0, 3000), "hls4ml": (0, 3000)}
    rtl = json.loads((steps / "06_rtl" / "report.json").read_text())
    assert (rtl["mismatches"], rtl["vectors"]) == (0, 3000)
