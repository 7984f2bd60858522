"""data.inputs: particles+features: both views of each jet side by side, each standardised by its
own loader, for the two-input ``hybrid`` Keras arch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data.source import load_dataset
from tests.data.particle_helpers import particles_npz


@pytest.mark.unit
def test_rows_hold_the_particles_then_the_features(tmp_path: Path) -> None:
    path = particles_npz(tmp_path / "p.npz", n=400, p=8, f=4)
    both = load_dataset({"source": str(path), "inputs": "particles+features"}, seed=1)
    parts = load_dataset({"source": str(path), "inputs": "particles"}, seed=1)
    feats = load_dataset({"source": str(path)}, seed=1)
    assert both.x_train.shape == (len(parts.x_train), 8 * 4 + 16) and both.n_features == 48
    for split in ("train", "val", "test"):
        x = getattr(both, f"x_{split}")
        assert np.array_equal(x[:, :32], getattr(parts, f"x_{split}").reshape(len(x), -1))
        assert np.array_equal(x[:, 32:], getattr(feats, f"x_{split}"))
        assert np.array_equal(getattr(both, f"y_{split}"), getattr(feats, f"y_{split}"))
    assert both.meta["input_shapes"] == [[8, 4], [16]] and both.meta["input_names"] == ["particles", "features"]
    assert both.meta["views"]["features"]["mean"] == feats.mean.tolist()
    assert len(both.mean) == 4 + 16 and both.meta["inputs"] == "particles+features"


_PROGRAM = r"""
#include <cstdio>
#include "hwai_particles_preprocess.h"
#include "hwai_features_preprocess.h"
int main() {
    float raw[HWAI_FEATURES_N_FEATURES];
    long long codes[HWAI_FEATURES_N_FEATURES];
    while (true) {
        for (int i = 0; i < HWAI_FEATURES_N_FEATURES; i++)
            if (std::scanf("%f", &raw[i]) != 1) return 0;
        hwai_features_preprocess_codes(raw, codes);
        for (int i = 0; i < HWAI_FEATURES_N_FEATURES; i++) std::printf("%lld ", codes[i]);
        std::printf("\n");
    }
    (void)hwai_particles_preprocess_particles;
}
"""


@pytest.mark.csim
def test_each_input_gets_its_own_spec_and_header(tmp_path: Path) -> None:
    """One spec and one C header per input port, with prefixed names so both build in one
    program; the features header computes exactly the codes the design was checked with."""
    import shutil
    import subprocess

    from hwai.codegen import preprocess
    from hwai.ir.interp import input_codes
    from tests.ops.graph_helpers import hybrid_graph

    data = load_dataset({"source": str(particles_npz(tmp_path / "p.npz", n=400, p=8, f=4)),
                         "inputs": "particles+features"}, seed=1)
    graph = preprocess.attach(hybrid_graph(p=8, f=4, n_feat=16), data)
    spec = graph.meta["preprocessing"]
    assert [s["name"] for s in spec["inputs"]] == ["particles", "features"]
    assert spec["inputs"][0]["particles"] == 8 and "clip_lo" in spec["inputs"][0]["features"][0]
    assert spec["inputs"][1]["input_type"]["width"] == graph.tensor("features").type.width
    files = preprocess.project_files(graph)
    assert sorted(files) == ["hwai_features_preprocess.h", "hwai_particles_preprocess.h"]
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not on PATH")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "main.cpp").write_text(_PROGRAM)
    subprocess.run([gxx, "-O2", "-Wall", "-Werror", "-o", str(tmp_path / "pp"), str(tmp_path / "main.cpp")],
                   check=True, cwd=tmp_path)
    view = spec["inputs"][1]
    mean = np.array([f["mean"] for f in view["features"]], np.float32)
    scale = np.array([f["scale"] for f in view["features"]], np.float32)
    raw = (data.x_test[:, 32:] * scale + mean).astype(np.float32)
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in raw) + "\n"
    out = subprocess.run([str(tmp_path / "pp")], input=text, capture_output=True, text=True, check=True).stdout
    got = np.array([[int(v) for v in line.split()] for line in out.splitlines()])
    want = graph.tensor("features").type.from_float(((raw - mean) / scale).astype(np.float32))
    np.testing.assert_array_equal(got, want)
    assert input_codes(graph, data.x_test)["features"].shape == want.shape
