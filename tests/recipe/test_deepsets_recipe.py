"""recipes/jet_constituents_deepsets.yaml end to end on a tiny generated particle file (Xp/mask/X/y)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.data.particle_helpers import particles_npz

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "jet_constituents_deepsets.yaml"


@pytest.mark.slow   # ~2-3 min: QAT training, three backends, Verilator on 10,000 vectors
@pytest.mark.csim
@pytest.mark.rtl
def test_deepsets_recipe_runs_exact_on_a_tiny_file(tmp_path: Path) -> None:
    pytest.importorskip("qkeras")
    pytest.importorskip("hls4ml")
    for tool in ("g++", "verilator"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    from hwai.cli import main

    data = particles_npz(tmp_path / "p.npz", n=600, p=8, f=4)
    run = tmp_path / "run"
    sets = ["model.phi=[8, 8]", "model.rho=[8]", "steps.train.epochs=1", "steps.prune.epochs=1",
            "steps.quantize.epochs=1", "steps.csim.vectors=10000", "steps.rtl.vectors=10000"]
    args = ["compress", str(RECIPE), "--data", str(data), "--out", str(run), "--to", "rtl"]   # no Yosys
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0      # csim / rtl exit 5 on any mismatch (hls4ml, native, Verilator)
    rep = json.loads((run / "report.json").read_text())
    assert rep["csim"]["per_backend"] == {"hls4ml": 0, "native": 0} and rep["csim"]["vectors"] == 10_000
    assert rep["rtl"]["mismatches"] == 0 and rep["rtl"]["vectors"] == 10_000
    # QKeras sees the float inputs, the firmware their 10-bit codes: close, not equal
    assert rep["argmax_agreement_framework_vs_firmware"] > 0.9
    spec = json.loads((run / "preprocessing.json").read_text())
    assert spec["particles"] == 8 and "clip_lo" in spec["features"][0]
