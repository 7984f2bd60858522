"""data.inputs: particles — (N, P, F) sets standardized over real particles; the C header reproduces it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwai.codegen import preprocess
from hwai.data import load_dataset
from hwai.errors import DataError
from hwai.ir.types import FixedType
from tests.data.particle_helpers import particle_graph, particles_npz

pytestmark = pytest.mark.unit


def _load(tmp_path: Path, **cfg: object):
    return load_dataset({"source": str(particles_npz(tmp_path / "p.npz")), "inputs": "particles", **cfg}, seed=0)


def test_shapes_split_and_padding_stays_zero(tmp_path: Path) -> None:
    data = _load(tmp_path)
    assert data.x_train.shape[1:] == (8, 4) and data.x_train.dtype == np.float32
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 400
    assert data.feature_names == ("pf0", "pf1", "pf2", "pf3") and data.class_names == ("g", "q", "W", "Z", "t")
    raw = np.load(tmp_path / "p.npz")
    flat = load_dataset({"source": str(tmp_path / "p.npz"), "features": "X"}, seed=0)
    np.testing.assert_array_equal(flat.y_test, data.y_test)   # same jets in each split as the flat view
    pad = np.all(data.x_train == 0, axis=-1)
    assert pad.sum() > 0 and pad.mean() == pytest.approx(1 - raw["mask"].mean(), abs=0.05)


def test_statistics_over_real_train_particles_only(tmp_path: Path) -> None:
    data = _load(tmp_path, clip_quantile=0)
    real = data.x_train[~np.all(data.x_train == 0, axis=-1)]
    np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-4)   # padding did not pull the mean
    np.testing.assert_allclose(real.std(axis=0), 1, atol=1e-3)
    assert data.meta["inputs"] == "particles" and data.meta["particles"] == 8


def test_clipping_holds_the_outlier(tmp_path: Path) -> None:
    clipped, unclipped = _load(tmp_path), _load(tmp_path, clip_quantile=0)
    hi = clipped.meta["clip"]["hi"][0]
    assert hi < 200 and np.max(clipped.x_train[..., 0]) <= (hi - clipped.mean[0]) / clipped.std[0] + 1e-6
    assert np.max(unclipped.x_train[..., 0]) > 20   # the 1000-unit outlier, standardized


def test_bad_keys_and_shapes_are_one_line(tmp_path: Path) -> None:
    path = particles_npz(tmp_path / "p.npz")
    with pytest.raises(DataError, match=r"key 'P' not found; available keys: X, Xp, class_names"):
        load_dataset({"source": str(path), "inputs": "particles", "particles": "P"}, seed=0)
    with pytest.raises(DataError, match=r"'X' must be a numeric \(jets, particles, features\) array, got float32 \(400, 16\)"):
        load_dataset({"source": str(path), "inputs": "particles", "particles": "X"}, seed=0)
    with pytest.raises(DataError, match=r"clip_quantile 0.7 must be in \[0, 0.5\)"):
        load_dataset({"source": str(path), "inputs": "particles", "clip_quantile": 0.7}, seed=0)


def test_spec_carries_clipping_and_particles(tmp_path: Path) -> None:
    data = _load(tmp_path)
    graph = preprocess.attach(particle_graph(), data)
    spec = graph.meta["preprocessing"]
    assert spec["particles"] == 8 and spec["formula"] == preprocess.PARTICLE_FORMULA
    assert spec["features"][0]["clip_hi"] == pytest.approx(data.meta["clip"]["hi"][0])
    text = preprocess.project_files(graph)[preprocess.HEADER]
    assert "#define HWAI_N_PARTICLES 8" in text and "hwai_preprocess_particles" in text


_PROGRAM = r"""
#include <cstdio>
#include <cstdlib>
#include "hwai_preprocess.h"
int main() {
    float raw[HWAI_N_PARTICLES][HWAI_N_FEATURES];
    unsigned char mask[HWAI_N_PARTICLES];
    long long codes[HWAI_N_PARTICLES * HWAI_N_FEATURES];
    char buf[64];
    for (;;) {
        for (int p = 0; p < HWAI_N_PARTICLES; p++) {
            int m;
            if (scanf("%d", &m) != 1) return 0;
            mask[p] = (unsigned char)m;
            for (int i = 0; i < HWAI_N_FEATURES; i++) {
                if (scanf("%63s", buf) != 1) return 1;
                raw[p][i] = strtof(buf, nullptr);
            }
        }
        hwai_preprocess_particles(raw, mask, codes);
        for (int i = 0; i < HWAI_N_PARTICLES * HWAI_N_FEATURES; i++) printf("%lld ", codes[i]);
        printf("\n");
    }
}
"""


@pytest.mark.csim
def test_particle_header_codes_equal_the_golden_input_codes(tmp_path: Path) -> None:
    """Raw particles + mask through hwai_preprocess.h give exactly the codes of the loader's inputs."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not on PATH")
    t = FixedType(10, 4, True, "RND_CONV", "SAT")
    data = _load(tmp_path)
    graph = preprocess.attach(particle_graph(input_type=t), data)
    (tmp_path / preprocess.HEADER).write_text(preprocess.project_files(graph)[preprocess.HEADER])
    (tmp_path / "main.cpp").write_text(_PROGRAM)
    subprocess.run([gxx, "-O2", "-Wall", "-Werror", "-o", str(tmp_path / "pp"), str(tmp_path / "main.cpp")],
                   check=True, cwd=tmp_path)
    f = np.load(tmp_path / "p.npz")
    raw, mask = f["Xp"], f["mask"]   # the file's rows, unsplit: compare with the loader's transform
    from hwai.data.particles import transform

    lo, hi = (np.array(data.meta["clip"][k], np.float32) for k in ("lo", "hi"))
    want = t.from_float(transform(raw, mask.astype(bool), lo, hi, data.mean, data.std)).reshape(len(raw), -1)
    text = "\n".join(" ".join(f"{m} " + " ".join(repr(float(v)) for v in prow) for m, prow in zip(mrow, row))
                     for mrow, row in zip(mask, raw)) + "\n"
    out = subprocess.run([str(tmp_path / "pp")], input=text, capture_output=True, text=True, check=True).stdout
    got = np.array([[int(v) for v in line.split()] for line in out.splitlines()])
    np.testing.assert_array_equal(got, want)


def test_max_particles_keeps_the_leading_particles(tmp_path: Path) -> None:
    full, lead = _load(tmp_path, clip_quantile=0, standardize="none"), _load(tmp_path, clip_quantile=0,
                                                                          standardize="none", max_particles=3)
    assert lead.x_train.shape[1:] == (3, 4) and lead.meta["particles"] == 3
    np.testing.assert_array_equal(lead.x_train, full.x_train[:, :3])   # the first 3, in the file's order
    np.testing.assert_array_equal(lead.y_test, full.y_test)             # same jets in each split
    assert _load(tmp_path, max_particles=50).x_train.shape[1:] == (8, 4)  # more than P: all of them
