"""A recipe with ``quantize: {method: hgq}`` runs through lower/estimate/evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("tensorflow")
pytest.importorskip("HGQ")

pytestmark = pytest.mark.slow   # two trainings through the CLI (~40 s on a loaded machine)


def test_compress_with_hgq_quantize(tmp_path: Path, jets_npz: Path, capsys) -> None:
    from hwai.cli import main
    from hwai.ir.graph import Graph

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "hgq_tiny", "seed": 1, "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [16, 8]},
        "data": {"source": str(jets_npz), "max_rows": 3000},
        "steps": [{"train": {"epochs": 2}}, {"quantize": {"method": "hgq", "beta": 1e-5, "epochs": 2}},
                  "lower", "estimate", "evaluate"]}))
    run = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "[quantize] hgq beta 1e-05:" in err and "EBOPs after tracing" in err
    quant = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())
    assert {"weight_min", "weight_mean", "activation_mean"} <= set(quant["bit_widths"]["fc1"])
    graph = Graph.load(run / "steps" / "03_lower" / "checkpoint")
    assert graph.nodes[0].name == "input_quant" and graph.meta["frontend"] == "hgq"
    report = json.loads((run / "report.json").read_text())
    assert report["argmax_agreement_framework_vs_firmware"] > 0.98 and report["estimate"]["lut"] > 0
