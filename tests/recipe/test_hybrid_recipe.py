"""recipes/jet_constituents_hybrid.yaml end to end on a tiny generated file (Xp/mask/X/y): two
inputs through training, pruning, QAT, lowering and every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.particle_helpers import run_particle_recipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "jet_constituents_hybrid.yaml"


@pytest.mark.slow   # ~3-4 min: QAT training, three backends, Verilator on 10,000 vectors
@pytest.mark.csim
@pytest.mark.rtl
def test_hybrid_recipe_runs_exact_on_a_tiny_file(tmp_path: Path) -> None:
    run, rep = run_particle_recipe(RECIPE, tmp_path, ["model.phi=[8]", "model.rho=[8]"], "--to", "rtl")
    spec = json.loads((run / "preprocessing.json").read_text())   # --to rtl: no Yosys
    assert [s["name"] for s in spec["inputs"]] == ["particles", "features"]
    assert (run / "native" / "hwai_particles_preprocess.h").is_file()
