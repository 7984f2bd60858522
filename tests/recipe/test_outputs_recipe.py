"""A two-output Keras model through a recipe (train, quantize, evaluate, lower, emit, csim) on a
tiny generated file: one loss per output, per-output metrics in report.json / report.md /
report.html, the firmware's equal to the golden model's; a one-output report keeps its keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.cli_fixtures import tiny_recipe

CLASSES = ["g", "q", "W", "Z", "t"]
OUTPUTS = [{"name": "classes", "task": "classify"},
           {"name": "top_tag", "task": "score", "signals": ["t"], "background": ["g", "q"], "rate": 0.1}]


def _recipe(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(1000) % 5
    x = rng.normal(size=(1000, 8)).astype(np.float32)
    x[:, :5] += 3.0 * np.eye(5, dtype=np.float32)[y]
    np.savez(folder / "d.npz", X=x, y=y.astype(np.int64))
    doc = {"name": "two", "seed": 0, "model": {"arch": "multihead", "hidden": [8], "heads": [4]},
           "data": {"source": "d.npz", "class_names": CLASSES}, "outputs": OUTPUTS,
           "steps": [{"train": {"epochs": 3, "batch_size": 64}},
                     {"quantize": {"epochs": 2, "batch_size": 64, "bits": 6,
                                   "activation": {"bits": 8, "integer": 3}}},
                     "evaluate", "lower", "estimate", {"emit": {"backend": ["native"]}}, {"csim": {"vectors": 500}}]}
    (folder / "r.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder / "r.yaml"


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("qkeras")
    import hwai.api as hw

    folder = tmp_path_factory.mktemp("two")
    return hw.compress(_recipe(folder), out=folder / "run"), hw.load(folder / "r.yaml")


@pytest.mark.csim
def test_report_json_has_every_output_side_by_side(two_heads) -> None:
    run, _ = two_heads
    outs = run.report["outputs"]
    assert list(outs) == ["classes", "top_tag"]
    assert outs["classes"]["task"] == "classify" and outs["top_tag"]["task"] == "score"
    for side in ("float", "framework", "firmware"):
        assert 0.0 <= outs["classes"][side]["accuracy"] <= 1.0
        assert set(outs["top_tag"][side]["efficiency"]) == {"t"} and outs["top_tag"][side]["rate"] == 0.1
    # the one-output keys still hold the first output's numbers
    assert run.report["firmware_accuracy"] == outs["classes"]["firmware"]["accuracy"]
    assert run.report["csim"]["mismatches"] == 0


@pytest.mark.csim
def test_firmware_metrics_are_the_golden_models(two_heads) -> None:
    from hwai.data import load_dataset
    from hwai.ir.interp import run_float_outputs
    from hwai.metrics import output_metrics

    run, recipe = two_heads
    data = load_dataset(dict(recipe.data), recipe.seed)
    golden = output_metrics(data.y_test, run_float_outputs(run.graph, data.x_test), recipe.outputs,
                            data.class_names)
    for name, metrics in golden.items():
        assert run.report["outputs"][name]["firmware"] == json.loads(json.dumps(metrics))
    # the score head learned signal vs background (its own loss), not a copy of a class column
    assert golden["top_tag"]["auc"]["t"] > 0.75


@pytest.mark.csim
def test_markdown_and_html_show_a_table_per_output(two_heads) -> None:
    run, _ = two_heads
    md = (run.run_dir / "report.md").read_text()
    assert "## Output classes (classify)" in md and "## Output top_tag (score)" in md
    assert "| t: efficiency at 10.00% g/q rate |" in md
    html = (run.run_dir / "report.html").read_text()
    assert "Output top_tag (score)" in html and "top_tag: ROC (score; firmware, golden model)" in html


@pytest.mark.unit
def test_score_targets_weigh_other_classes_zero() -> None:
    from hwai.engines.keras.heads import targets

    ys, ws = targets(OUTPUTS, np.array([0, 1, 2, 3, 4]), tuple(CLASSES))
    assert ys[0].shape == (5, 5) and ws[0].tolist() == [1, 1, 1, 1, 1]
    assert ys[1][:, 0].tolist() == [0, 0, 0, 0, 1] and ws[1].tolist() == [1, 1, 0, 0, 1]


def test_one_output_report_keeps_its_keys(tmp_path: Path) -> None:
    """Without ``outputs:`` report.json has exactly the keys it had before the block existed."""
    import hwai.api as hw

    run = hw.compress(tiny_recipe(tmp_path, steps=["evaluate", "lower", "estimate"]), out=tmp_path / "run")
    assert sorted(run.report) == sorted([
        "argmax_agreement_framework_vs_firmware", "bit_widths", "budget", "budget_ignored", "compressed_accuracy",
        "compressed_metrics", "csim", "estimate", "firmware_accuracy", "firmware_metrics", "float_accuracy",
        "float_metrics", "framework", "preprocessing", "recipe", "seed", "sparsity", "sparsity_per_layer",
        "status", "steps_s", "wall_s"])
    assert "outputs" not in run.report["firmware_metrics"] and "outputs" not in run.report["compressed_metrics"]


@pytest.mark.csim
def test_argmax_agreement_is_per_classify_output(two_heads) -> None:
    """Framework vs firmware top class, for each classify output (the score has no top class)."""
    run, _ = two_heads
    lower = json.loads(next(run.run_dir.glob("steps/*_lower/report.json")).read_text())
    agree = lower["argmax_agreement_per_output"]
    assert list(agree) == ["classes"] and 0.9 <= agree["classes"] <= 1.0
    assert run.report["argmax_agreement_framework_vs_firmware"] == agree["classes"]
