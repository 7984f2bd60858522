"""Issue 10 findings on a real Keras/QKeras run (slow: trains two tiny epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hwai.cli import main

pytestmark = pytest.mark.slow


def test_real_run_resume_and_budget_gate(tmp_path: Path, jets_npz: Path, capsys) -> None:
    pytest.importorskip("qkeras")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "small", "seed": 1, "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [16, 8]},
        "data": {"source": str(jets_npz), "max_rows": 3000}, "budget": {"lut": 100, "on_fail": "error"},
        "steps": [{"train": {"epochs": 1}},
                  {"quantize": {"bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 0}, "epochs": 1}},
                  {"lower": {"input": {"width": 16, "integer": 6}}}, "estimate", "budget",
                  {"emit": {"backend": ["native"]}}]}))
    run = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(run)]) == 4
    capsys.readouterr()
    # the budget gate holds on resume and on emit
    assert main(["compress", str(recipe), "--out", str(run), "--from", "emit"]) == 4
    assert "failed its budget" in capsys.readouterr().err
    assert main(["emit", str(run)]) == 4 and not (run / "native").exists()
    # the quantize checkpoint is gone: --from lower must not lower the unquantized model
    for p in (run / "steps" / "02_quantize" / "checkpoint").iterdir():
        p.unlink()
    assert main(["compress", str(recipe), "--out", str(run), "--from", "lower"]) == 2
    assert "02_quantize/checkpoint/" in capsys.readouterr().err
    assert json.loads((run / "status.json").read_text())["status"] == "failed"
