"""recipes/jet_constituents_conv1d_torch.yaml end to end on a tiny generated particle file (Xp/mask/X/y):
the torch conv1d arch trained, pruned, Brevitas QAT, and exact on hls4ml, native C-sim and Verilator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.particle_helpers import run_particle_recipe

RECIPE = Path(__file__).resolve().parents[3] / "recipes" / "jet_constituents_conv1d_torch.yaml"


@pytest.mark.slow   # ~3-8 min: QAT training, three backends, Verilator on 10,000 vectors
@pytest.mark.csim
@pytest.mark.rtl
def test_torch_conv1d_recipe_runs_exact_on_a_tiny_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    run, rep = run_particle_recipe(RECIPE, tmp_path, ["model.filters=[4, 4]", "model.hidden=[8]"], "--to", "rtl")
    assert rep["argmax_agreement_framework_vs_firmware"] == 1.0   # Brevitas sees the firmware's input grid
    arch = json.loads((run / "steps" / "03_quantize" / "checkpoint" / "arch.json").read_text())
    assert arch["arch"]["arch"] == "conv1d" and arch["quantize"]["bits"] == 6
