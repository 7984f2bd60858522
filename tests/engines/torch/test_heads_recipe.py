"""recipes/jet_tagging_two_heads.yaml with ``model.framework=torch`` end to end on a tiny generated
jets file: the torch multihead model trained (one loss per output), pruned, Brevitas QAT, lowered,
emitted and C-simulated exactly (hls4ml and native), each output reported on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "jet_tagging_two_heads.yaml"


def _jets(path: Path, n: int = 1500) -> Path:
    """16 features, classes g/q/W/Z/t (the jets file's keys) that shift the first five features."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 5
    x = rng.normal(size=(n, 16)).astype(np.float32)
    x[:, :5] += 2.5 * np.eye(5, dtype=np.float32)[y]
    np.savez(path, X=x, y=y.astype(np.int64), class_names=np.array(list("gqWZt")),
             feature_names=np.array([f"f{i}" for i in range(16)]))
    return path


@pytest.mark.csim
def test_two_heads_recipe_on_torch_is_exact_in_csim(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    from hwai.cli import main

    run = tmp_path / "run"
    sets = ["model.framework=torch", "model.hidden=[16, 8]", "model.heads=[4]", "steps.train.epochs=5",
            "steps.prune.epochs=1", "steps.quantize.epochs=1", "steps.csim.vectors=2000",
            *[f"steps.{s}.batch_size=64" for s in ("train", "prune", "quantize")]]
    args = ["compress", str(RECIPE), "--data", str(_jets(tmp_path / "jets.npz")), "--out", str(run), "--to", "csim"]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0   # csim exits 5 on a mismatch
    rep = json.loads((run / "report.json").read_text())
    assert rep["framework"] == "torch" and rep["csim"]["per_backend"] == {"hls4ml": 0, "native": 0}
    assert list(rep["outputs"]) == ["classes", "top_tag"]
    for name, entry in rep["outputs"].items():   # Brevitas quantizes the inputs to the firmware's grid
        assert entry["framework"] == entry["firmware"], name
    assert rep["outputs"]["classes"]["firmware"]["accuracy"] > 0.35   # 5 classes: chance is 0.2
    assert rep["outputs"]["top_tag"]["firmware"]["auc"]["t"] > 0.75
    arch = json.loads((run / "steps" / "03_quantize" / "checkpoint" / "arch.json").read_text())
    assert arch["arch"]["arch"] == "multihead" and [o["name"] for o in arch["arch"]["args"]["outputs"]] == [
        "classes", "top_tag"]
