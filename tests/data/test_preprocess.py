"""The input preprocessing is part of the handoff: spec, C header (bit-exact vs the golden input), README, report."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwai.data import Dataset, load_dataset
from hwai.codegen import preprocess
from hwai.ir.types import FixedType
from tests.ir.helpers import mlp_graph
from tests.recipe.test_runner import fake  # noqa: F401  (fixture: a fake engine and dataset)


def _dataset(tmp_path: Path, n_features: int = 8) -> Dataset:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, n_features)).astype(np.float32) * np.linspace(0.01, 300, n_features) + 40
    path = tmp_path / "d.npz"
    np.savez(path, X=x.astype(np.float32), y=np.arange(400) % 4,
             feature_names=np.array([f"j_f{i}" for i in range(n_features)]))
    return load_dataset({"source": str(path)}, seed=0)


def test_spec_records_order_constants_and_saturating_range(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    t = FixedType(16, 6, True, "RND_CONV", "SAT")
    spec = preprocess.preprocessing_spec(data, t)
    assert spec["standardize"] == "standard" and [f["name"] for f in spec["features"]] == list(data.feature_names)
    f3 = spec["features"][3]
    assert f3["mean"] == float(data.mean[3]) and f3["scale"] == float(data.std[3])
    assert f3["raw_max"] == pytest.approx(f3["mean"] + f3["scale"] * (2 ** 5 - 2 ** -10))
    assert spec["input_type"]["hls"] == "ap_fixed<16,6,AP_RND_CONV,AP_SAT>" and spec["input_type"]["code_min"] == -32768
    assert json.loads(json.dumps(spec)) == spec   # JSON-able, float32 constants round-trip exactly
    table = preprocess.markdown_table(spec)
    assert "| 3 | `j_f3` |" in table and len(table.splitlines()) == 2 + 8


_PROGRAM = r"""
#include <cstdio>
#include <cstdlib>
#include "hwai_preprocess.h"
int main() {
    float raw[HWAI_N_FEATURES];
    long long codes[HWAI_N_FEATURES];
    char buf[64];
    for (;;) {
        for (int i = 0; i < HWAI_N_FEATURES; i++) {
            if (scanf("%63s", buf) != 1) return 0;
            raw[i] = strtof(buf, nullptr);
        }
        hwai_preprocess_codes(raw, codes);
        for (int i = 0; i < HWAI_N_FEATURES; i++) printf("%lld ", codes[i]);
        printf("\n");
    }
}
"""


@pytest.mark.csim
@pytest.mark.parametrize("t", [FixedType(16, 6, True, "RND_CONV", "SAT"), FixedType(10, 3, True, "TRN", "WRAP"),
                               FixedType(8, 2, True, "RND", "SAT_SYM"), FixedType(12, 4, False, "RND_ZERO", "SAT"),
                               FixedType(9, 1, True, "RND_INF", "SAT_ZERO"), FixedType(9, 5, True, "RND_MIN_INF", "SAT"),
                               FixedType(9, 5, True, "TRN_ZERO", "SAT")], ids=str)
def test_header_codes_equal_the_golden_input_codes(tmp_path: Path, t: FixedType) -> None:
    """The C header turns physical features into exactly the codes the design was verified with."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not on PATH")
    data = _dataset(tmp_path)
    graph = preprocess.attach(mlp_graph((8, 6, 4), input_type=t), data)
    (tmp_path / preprocess.HEADER).write_text(preprocess.project_files(graph)[preprocess.HEADER])
    (tmp_path / "main.cpp").write_text(_PROGRAM)
    subprocess.run([gxx, "-O2", "-Wall", "-Werror", "-o", str(tmp_path / "pp"), str(tmp_path / "main.cpp")],
                   check=True, cwd=tmp_path)
    raw = np.concatenate([data.x_test, data.x_train[:50]]) * data.std + data.mean
    # values on the grid's ties and far outside the range exercise rounding and overflow
    ties = data.mean + data.std * np.ldexp(np.arange(-40, 40)[:, None] + 0.5, -t.frac).astype(np.float32)
    raw = np.concatenate([raw, ties, (data.mean + data.std * 1e4)[None],
                          (data.mean - data.std * 1e4)[None]]).astype(np.float32)
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in raw) + "\n"
    out = subprocess.run([str(tmp_path / "pp")], input=text, capture_output=True, text=True, check=True).stdout
    got = np.array([[int(v) for v in line.split()] for line in out.splitlines()])
    want = t.from_float(((raw - data.mean) / data.std).astype(np.float32))   # what training / csim used
    np.testing.assert_array_equal(got, want)


@pytest.mark.usefixtures("fake")
def test_run_folder_report_and_native_project_carry_the_preprocessing(tmp_path: Path) -> None:
    from hwai.recipe.runner import run_recipe
    from hwai.recipe.schema import recipe_from_dict

    recipe = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"},
                               "steps": [{"train": {"epochs": 1}}, "lower", {"emit": {"backend": "native"}}]},
                              Path("t.yaml"))
    run = tmp_path / "run"
    ctx = run_recipe(recipe, run, log=lambda m: None)
    spec = json.loads((run / "preprocessing.json").read_text())
    assert [f["name"] for f in spec["features"]] == [f"f{i}" for i in range(8)]
    assert spec["input_type"]["hls"] == "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"   # the fake model's input type
    assert json.loads((run / "report.json").read_text())["preprocessing"] == spec
    md = (run / "report.md").read_text()
    assert "## Input preprocessing" in md and "| 7 | `f7` |" in md
    assert ctx.graph.meta["preprocessing"] == spec
    header = (run / "native" / preprocess.HEADER).read_text()
    assert "hwai_preprocess_codes" in header and '"f0", "f1"' in header
    readme = (run / "native" / "README.md").read_text()
    assert "## Input preprocessing" in readme and "| 0 | `f0` |" in readme


def test_no_preprocessing_no_section(tmp_path: Path) -> None:
    from hwai.codegen.native import generate
    from hwai.target import Target

    files = generate(mlp_graph((8, 6, 4)), Target())
    assert preprocess.HEADER not in files and b"Input preprocessing" not in files["README.md"]


def test_hls4ml_project_gets_header_and_readme(tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import to_hls4ml
    from hwai.target import Target

    graph = preprocess.attach(mlp_graph((8, 6, 4)), _dataset(tmp_path))
    from hwai.sim.vectors import make_vectors

    to_hls4ml(graph, tmp_path / "hls", Target(project_name="jets"), make_vectors(graph, 100, seed=0))
    assert "hwai_preprocess_codes" in (tmp_path / "hls" / preprocess.HEADER).read_text()
    readme = (tmp_path / "hls" / "README.md").read_text()
    assert readme.startswith("# jets — hls4ml project generated by hwai") and "| 0 | `j_f0` |" in readme
