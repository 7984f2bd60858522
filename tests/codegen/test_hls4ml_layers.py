"""The hls4ml project is built from hls4ml's own layer list: exact, and TensorFlow is never imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.hls4ml_layers import exact_weights, layer_list
from hwai.estimate.designs import mlp_graph

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter so sys.modules shows exactly what the hls4ml path imports.
_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
from hwai.estimate.designs import mlp_graph
from hwai.ir.interp import run
from hwai.sim.hls4ml_csim import csim_hls4ml
from hwai.sim.vectors import make_vectors
from hwai.target import Target

graph = mlp_graph({sizes}, sparsity=0.5, seed=3)
x = make_vectors(graph, {n}, seed=1)
model = to_hls4ml(graph, Path(sys.argv[1]), Target(), x[:1000])
mismatches = None
if {compile}:
    compile_hls4ml(model)
    gold = run(graph, x)[graph.outputs[0]]
    mismatches = int((csim_hls4ml(graph, model, x) != gold).any(axis=1).sum())
print(json.dumps({{"mismatches": mismatches, "vectors": len(x),
                  "loaded": sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules)}}))
"""


def _run(tmp_path: Path, sizes: tuple[int, ...], n: int, compile_: bool) -> dict:
    pytest.importorskip("hls4ml")
    code = _SCRIPT.format(sizes=sizes, n=n, compile=compile_)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "hls")], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.unit
def test_layer_list_is_what_hls4ml_keras_parser_makes_with_exact_weights() -> None:
    from hwai.codegen.hls4ml_bridge import hls4ml_safe, plan_layers

    graph = hls4ml_safe(mlp_graph((6, 5, 3), seed=2))
    layers = layer_list(graph, plan_layers(graph))
    assert [(d["name"], d["class_name"], d.get("activation")) for d in layers] == [
        ("x", "InputLayer", None), ("dense0", "Dense", "linear"), ("dense0_linear", "Activation", "linear"),
        ("relu0", "Activation", "relu"), ("dense1", "Dense", "linear"), ("dense1_linear", "Activation", "linear")]
    dense = layers[1]
    w, b = exact_weights(graph.node("dense0"))
    assert dense["weight_data"].shape == (6, 5) and dense["weight_data"].dtype == np.float64
    np.testing.assert_array_equal(dense["weight_data"], w.reshape(6, 5))
    np.testing.assert_array_equal(dense["bias_data"], b)


@pytest.mark.unit
def test_hls4ml_project_is_written_without_tensorflow(tmp_path: Path) -> None:
    res = _run(tmp_path, (8, 6, 4), 50, compile_=False)
    assert res["loaded"] == []   # neither TensorFlow/Keras nor torch on the way to hls4ml
    assert (tmp_path / "hls" / "firmware" / "myproject.cpp").is_file()
    assert not (tmp_path / "hls" / "keras_model.keras").exists()
    assert "KerasModel" not in (tmp_path / "hls" / "hls4ml_config.yml").read_text()


@pytest.mark.csim
@pytest.mark.slow
def test_hls4ml_csim_of_a_synthetic_mlp_is_exact_on_10000_vectors(tmp_path: Path) -> None:
    from hwai.errors import require_tool

    require_tool("g++", "apt-get install g++")
    res = _run(tmp_path, (16, 32, 16, 5), 10_000, compile_=True)
    assert res == {"mismatches": 0, "vectors": 10_000, "loaded": []}
