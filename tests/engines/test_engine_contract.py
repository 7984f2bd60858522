"""Contract: the same recipe keys mean the same thing on the Keras and the torch engine.

One small recipe (tiny generated data) runs on both engines; defaults, epochs run,
the pruning schedule (one mask update per epoch, same sparsity sequence), the sparsity
reached, structured pruning, per-layer spec resolution and its errors must agree.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")
torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines import core  # noqa: E402
from hwai.engines.keras import KerasEngine  # noqa: E402
from hwai.engines.torch import TorchEngine  # noqa: E402
from hwai.errors import RecipeError  # noqa: E402
from tests.engines.synthetic import blobs  # noqa: E402

pytestmark = pytest.mark.unit
MODEL = {"arch": "jet_mlp", "hidden": [16, 8]}
TRAIN = {"epochs": 3, "batch_size": 64, "learning_rate": 3e-3, "patience": 0}
PRUNE = {"sparsity": 0.6, "epochs": 4, "batch_size": 64, "schedule": "polynomial"}


def tiny(n: int = 300, seed: int = 0) -> Dataset:
    return blobs(n, seed)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return tiny()


@pytest.fixture(scope="module", params=["keras", "torch"])
def engine(request):
    return KerasEngine() if request.param == "keras" else TorchEngine()


@pytest.fixture(scope="module")
def trained(engine, data: Dataset):
    return engine.train(engine.build(MODEL, data, 0), data, TRAIN, 0)


def epochs_logged(text: str, tag: str) -> list[int]:
    return [int(m) for m in re.findall(rf"{tag}\]? epoch (\d+)/\d+", text)]


def test_defaults_are_the_schema_ones() -> None:
    from hwai.recipe.schema import STEPS
    from hwai.recipe.schema import TRAIN as SCHEMA_TRAIN

    assert {k: f.default for k, f in SCHEMA_TRAIN.items()} == core.TRAIN_DEFAULTS
    assert STEPS["prune"]["epochs"].default == STEPS["quantize"]["epochs"].default == core.FINETUNE_EPOCHS
    assert STEPS["prune"]["schedule"].choices == core.SCHEDULES
    assert {k: core.with_train_defaults({"alpha": 0.5})[k] for k in core.TRAIN_DEFAULTS} == core.TRAIN_DEFAULTS
    assert core.train_config({}) == core.TrainConfig(20, 512, 3e-3, 5)


def test_train_runs_the_epochs_asked(engine, data: Dataset, capfd) -> None:
    engine.train(engine.build(MODEL, data, 0), data, TRAIN, 0)
    out = capfd.readouterr()
    assert epochs_logged(out.out + out.err, "train") == [1, 2, 3]   # patience 0: never stops early


def test_prune_follows_the_one_schedule(engine, data: Dataset, trained, capfd) -> None:
    pruned = engine.prune(trained, data, PRUNE, 0)
    out = capfd.readouterr()
    got = [float(s) for s in re.findall(r"\[prune\] epoch \d+/4 sparsity ([0-9.]+)", out.out + out.err)]
    plan = core.sparsity_plan(0.6, 4, "polynomial")
    assert len(got) == 4 and np.allclose(got, plan, atol=0.02), (got, plan)   # one update per epoch
    achieved = engine.sparsity(pruned)
    assert set(achieved) == {"fc1", "fc2", "output"}
    assert all(abs(v - 0.6) < 0.02 for v in achieved.values()), achieved


def test_prune_layers_set_each_layers_own_sparsity(engine, data: Dataset, trained) -> None:
    """``prune.layers`` overrides ``prune.sparsity`` per layer, the same in both engines, for
    magnitude and neuron pruning; a name that is no pruned layer is one RecipeError."""
    pruned = engine.prune(trained, data, {**PRUNE, "epochs": 2, "layers": {"fc1": 0.2, "output": 0.8}}, 0)
    achieved = engine.sparsity(pruned)
    assert abs(achieved["fc1"] - 0.2) < 0.02 and abs(achieved["fc2"] - 0.6) < 0.02, achieved
    assert abs(achieved["output"] - 0.8) < 0.02, achieved
    pruned = engine.prune(trained, data, {**PRUNE, "structured": True, "epochs": 2, "layers": {"fc2": 0.25}}, 0)
    assert {n: int(k) for n, k in _dead_neurons(engine, pruned).items()} == {"fc1": 10, "fc2": 2, "output": 0}
    with pytest.raises(RecipeError, match=r"prune\.layers\.fc3: no pruned weight layer of that name "
                                          r"\(pruned layers: fc1, fc2\b"):
        engine.prune(trained, data, {**PRUNE, "layers": {"fc3": 0.5}, "skip_layers": ["output"]}, 0)


def test_structured_prune_removes_the_same_neurons_count(engine, data: Dataset, trained) -> None:
    pruned = engine.prune(trained, data, {**PRUNE, "structured": True, "epochs": 2}, 0)
    dead = {name: int(n) for name, n in _dead_neurons(engine, pruned).items()}
    assert dead == {"fc1": 10, "fc2": 5, "output": 0}   # round(0.6 * 16), round(0.6 * 8); never the logits


def test_structured_prune_keeps_every_output_layer_of_a_multihead_model(engine, data: Dataset) -> None:
    """Neuron pruning never removes a row of any output layer (a class logit or a score), only
    the hidden neurons: with several heads the last weight layer is not the only output."""
    outputs = [{"name": "classes", "task": "classify"},
               {"name": "top_tag", "task": "score", "signals": ["t"], "background": ["g", "q"]}]
    model = engine.build({"arch": "multihead", "hidden": [16], "heads": [8], "outputs": outputs}, data, 0)
    cfg = {**PRUNE, "structured": True, "epochs": 1, "outputs": outputs}
    dead = {n: int(k) for n, k in _dead_neurons(engine, engine.prune(model, data, cfg, 0)).items()}
    assert dead == {"fc1": 10, "classes_fc1": 5, "classes": 0, "top_tag_fc1": 5, "top_tag": 0}, dead


def _dead_neurons(engine, model) -> dict[str, int]:
    if engine.framework == "keras":
        return {l.name: np.all(l.kernel.numpy() == 0, axis=0).sum() for l in model.layers
                if getattr(l, "kernel", None) is not None}
    from hwai.engines.torch.models import linear_layers

    return {n: (m.weight.detach().numpy() == 0).all(axis=1).sum() for n, m in linear_layers(model)}


def test_layer_specs_resolve_the_same(engine, data: Dataset, trained) -> None:
    cfg = {"bits": 6, "integer": 0, "activation": {"bits": 7, "integer": 1}, "epochs": 0,
           "layers": {"fc1": {"bits": 4, "activation": {"bits": 5}}, "relu2": {"bits": 3},
                      "output": {"bias": {"bits": 8, "integer": 2}}}}
    widths = engine.bit_widths(engine.quantize(trained, data, cfg, 0))
    assert {k: widths[k] for k in ("fc1", "fc2", "output")} == {
        "fc1": {"weight": 4, "bias": 4, "activation": 5},
        "fc2": {"weight": 6, "bias": 6, "activation": 3},
        "output": {"weight": 6, "bias": 8}}


def test_spec_errors_are_one_class(engine, data: Dataset, trained) -> None:
    with pytest.raises(RecipeError, match="fc9") as e:
        engine.quantize(trained, data, {"layers": {"fc9": {"bits": 4}}, "epochs": 0}, 0)
    assert e.value.exit_code == 2
    with pytest.raises(RecipeError, match="width"):
        engine.quantize(trained, data, {"layers": {"fc1": {"width": 4}}, "epochs": 0}, 0)
    with pytest.raises(RecipeError, match="schedule"):
        engine.prune(trained, data, {**PRUNE, "schedule": "cubic"}, 0)


def test_sparsity_counts_weights_that_quantize_to_zero(engine, data: Dataset, trained) -> None:
    q = engine.quantize(trained, data, {"bits": 2, "integer": 0, "epochs": 0}, 0)
    assert min(engine.sparsity(q).values()) > 0.2   # float weights are never exactly 0 here


def test_cosine_rate_is_one_rule() -> None:
    c = core.train_config({"epochs": 4, "learning_rate": 0.01, "lr_schedule": "cosine"})
    rates = [core.learning_rate_at(c, e) for e in range(4)]
    assert rates[0] == 0.01 and rates[2] == pytest.approx(0.005)
    assert all(a > b > 0 for a, b in zip(rates, rates[1:]))
    flat = core.train_config({"epochs": 4, "learning_rate": 0.01})
    assert [core.learning_rate_at(flat, e) for e in range(4)] == [0.01] * 4
    with pytest.raises(RecipeError, match="lr_schedule must be one of constant, cosine"):
        core.train_config({"lr_schedule": "step"})


def test_cosine_schedule_sets_each_epochs_rate(engine, data: Dataset, monkeypatch) -> None:
    """Both engines ask the one rule for every epoch's rate and train with it."""
    import importlib

    module = importlib.import_module(f"hwai.engines.{'keras' if isinstance(engine, KerasEngine) else 'torch'}.train")
    asked: list[int] = []
    rule = module.learning_rate_at
    monkeypatch.setattr(module, "learning_rate_at", lambda c, e: asked.append(e) or rule(c, e))
    cfg = {**TRAIN, "lr_schedule": "cosine"}
    model = engine.train(engine.build(MODEL, data, 0), data, cfg, 0)
    assert asked == [0, 1, 2]
    if isinstance(engine, KerasEngine):  # the optimizer ran the last epoch at the last epoch's rate
        last = core.learning_rate_at(core.train_config(cfg), 2)
        assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(last, rel=1e-6)
