"""Run-folder semantics with a fake engine: checkpoints, failure marking, --force, --from/--to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwai.data.dataset import Dataset
from hwai.errors import HwaiError
from hwai.ir.graph import Graph
from hwai.recipe import runner, steps
from hwai.recipe.schema import recipe_from_dict
from tests.ir.helpers import mlp_graph


class FakeEngine:
    """Stands in for Keras/torch: the 'model' is an IR graph; lowering returns it."""

    framework = "fake"

    def build(self, cfg, data, seed):
        return mlp_graph((8, 6, 4), seed=seed)

    def train(self, model, data, cfg, seed):
        if cfg.get("epochs") == 99:
            raise HwaiError("boom")
        return mlp_graph((8, 6, 4), seed=seed + 1)

    prune = quantize = train

    def logits(self, model, x):
        return steps.golden_logits(model, x)

    def sparsity(self, model):
        return {"fc1": 0.5}

    def bit_widths(self, model):
        return {"fc1": {"weight": 6}}

    def save(self, model, folder):
        model.save(folder)

    def restore(self, folder):
        return Graph.load(folder)

    def lower(self, model, input_type, cfg):
        return model


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    y = rng.integers(0, 4, 300)
    return Dataset(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], ("a", "b", "c", "d"),
                   tuple(f"f{i}" for i in range(8)), np.zeros(8), np.ones(8))


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(steps, "make_engine", lambda fw: FakeEngine())
    monkeypatch.setattr("hwai.data.load_dataset", lambda cfg, seed, override_path=None: _data())


def _recipe(**over) -> object:
    doc = {"name": "t", "seed": 1, "model": {"arch": "jet_mlp"},
           "steps": [{"train": {"epochs": 1}}, {"prune": {"epochs": 1}}, "lower", "evaluate"], **over}
    return recipe_from_dict(doc, Path("t.yaml"))


def test_complete_run_writes_reports_and_checkpoints(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.run_recipe(_recipe(), run, log=lambda s: None)
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    head = json.loads((run / "report.json").read_text())
    assert head["float_accuracy"] is not None and head["firmware_accuracy"] is not None
    assert head["bit_widths"]["fc1"]["weight_bits"] == 6
    for folder in ("01_train", "02_prune", "03_lower", "04_evaluate"):
        assert (run / "steps" / folder / "report.json").is_file()
    assert (run / "steps" / "03_lower" / "checkpoint" / "graph.json").is_file()
    man = json.loads((run / "manifest.json").read_text())
    assert man["seed"] == 1 and "steps/03_lower/checkpoint/graph.npz" in man["outputs"]
    assert (run / "report.md").read_text().startswith("# hwai run: t")


def test_existing_folder_needs_force(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.run_recipe(_recipe(), run, log=lambda s: None)
    with pytest.raises(HwaiError, match="pass --force"):
        runner.run_recipe(_recipe(), run, log=lambda s: None)
    runner.run_recipe(_recipe(), run, force=True, log=lambda s: None)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(HwaiError, match="not an hwai run folder"):
        runner.run_recipe(_recipe(), other, force=True, log=lambda s: None)
    assert (other / "thesis.tex").exists()


def test_failure_is_marked_and_leaves_no_report(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.run_recipe(_recipe(), run, log=lambda s: None)
    bad = _recipe(steps=[{"train": {"epochs": 1}}, {"prune": {"epochs": 99}}, "lower"])
    with pytest.raises(HwaiError, match="boom"):
        runner.run_recipe(bad, run, force=True, log=lambda s: None)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == "boom"
    assert not (run / "report.json").exists()


def test_to_then_from_resumes(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.run_recipe(_recipe(), run, to_step="prune", log=lambda s: None)
    assert json.loads((run / "status.json").read_text())["status"] == "partial"
    assert not (run / "steps" / "03_lower").exists()
    runner.run_recipe(_recipe(), run, from_step="lower", log=lambda s: None)
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    head = json.loads((run / "report.json").read_text())
    assert head["float_accuracy"] is not None  # restored from the train step's report
    with pytest.raises(Exception, match="not a step of this recipe"):
        runner.run_recipe(_recipe(), run, from_step="quantise", log=lambda s: None)


def test_same_recipe_and_seed_give_identical_outputs(fake, tmp_path: Path) -> None:
    recipe = _recipe(steps=[{"train": {"epochs": 1}}, "lower", "estimate", {"emit": {"backend": ["native", "verilog"]}}])
    digests = []
    for name in ("a", "b"):
        runner.run_recipe(recipe, tmp_path / name, log=lambda s: None)
        digests.append(json.loads((tmp_path / name / "manifest.json").read_text())["outputs"])
    # emitted designs, test vectors and checkpoints; step report.json files carry timings
    keep = lambda d: {k: v for k, v in d.items() if k.startswith(("native/", "verilog/", "vectors/"))  # noqa: E731
                      or "/checkpoint/" in k}
    emitted = keep(digests[0])
    assert any(k.endswith(".cpp") for k in emitted) and any(k.endswith(".v") for k in emitted)
    assert any("/checkpoint/" in k for k in emitted)
    assert emitted == keep(digests[1])


def test_budget_synth_check_takes_the_synth_steps_time_limit(fake, monkeypatch, tmp_path: Path) -> None:
    """Repro: --synth's budget check ran Yosys with a fixed 900 s per layer, so a design whose
    recipe gives Yosys an hour (synth.timeout_s) failed the budget step on a loaded machine."""
    seen: list[dict] = []

    def fake_synth(graph, out_dir, target, cfg, estimate=None, log=None):
        seen.append(dict(cfg))
        return {"total": {"lut": 10, "ff": 5, "dsp": 0}, "estimate_vs_synth": {}}

    monkeypatch.setattr(steps, "synth_graph", fake_synth)
    rec = _recipe(steps=[{"train": {"epochs": 1}}, "lower", "estimate", {"budget": {"synth": True}},
                         {"synth": {"timeout_s": 3600}}])
    runner.run_recipe(rec, tmp_path / "run", log=lambda s: None)
    assert seen == [{"family": "xcup", "dsp": True, "timeout_s": 3600}]   # the synth step reuses it
    assert steps.budget_synth_cfg(_recipe().steps) == {"family": "xcup", "dsp": True}
    fabric = _recipe(steps=[{"train": {"epochs": 1}}, "lower", {"synth": {"dsp": False}}]).steps
    assert steps.budget_synth_cfg(fabric) == {"family": "xcup", "dsp": False, "timeout_s": 900}


@pytest.mark.csim
def test_resumed_before_emit_with_more_vectors_checks_them_all(fake, tmp_path: Path) -> None:
    """Vectors made by an earlier emit are not reused when the run resumes at (or before) emit:
    C-sim then checks the count the recipe now asks for; resumed after emit with another count,
    csim says to re-emit instead of checking the old vectors."""
    from hwai.errors import RunFolderError

    def recipe(n: int):
        return _recipe(steps=[{"train": {"epochs": 1}}, "lower", {"emit": {"backend": ["native"]}},
                              {"csim": {"vectors": n}}])

    run = tmp_path / "run"
    runner.run_recipe(recipe(300), run, log=lambda s: None)
    assert np.load(run / "vectors" / "inputs.npy").shape[0] == 300
    with pytest.raises(RunFolderError, match=r"steps\[3\]\.csim\.vectors: 500, but the emitted projects were "
                                             r"made with 300 vectors .*resume --from emit"):
        runner.run_recipe(recipe(500), run, from_step="csim", log=lambda s: None)
    runner.run_recipe(recipe(500), run, from_step="emit", log=lambda s: None)
    rep = json.loads((run / "steps" / "04_csim" / "report.json").read_text())
    assert rep["vectors"] == 500 and np.load(run / "vectors" / "inputs.npy").shape[0] == 500
