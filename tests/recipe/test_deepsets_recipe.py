"""recipes/jet_constituents_deepsets.yaml end to end on a tiny generated particle file (Xp/mask/X/y)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.particle_helpers import run_particle_recipe

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "jet_constituents_deepsets.yaml"


@pytest.mark.slow   # ~2-3 min: QAT training, three backends, Verilator on 10,000 vectors
@pytest.mark.csim
@pytest.mark.rtl
def test_deepsets_recipe_runs_exact_on_a_tiny_file(tmp_path: Path) -> None:
    run, rep = run_particle_recipe(RECIPE, tmp_path, ["model.phi=[8, 8]", "model.rho=[8, 8]"], "--to", "rtl")   # rho1, rho2: the recipe prunes them by name
    spec = json.loads((run / "preprocessing.json").read_text())   # --to rtl: no Yosys
    assert spec["particles"] == 8 and "clip_lo" in spec["features"][0]
