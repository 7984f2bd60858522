"""hwai steps / recipes / init, --set overrides, --json and --quiet output, --help texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hwai.cli import EXIT_CODES, RECIPES_DIR, main, overrides_from_sets
from hwai.recipe.schema import STEPS, load_recipe
from tests.cli_fixtures import tiny_data, tiny_recipe


def test_help_shows_defaults_examples_and_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    out = capsys.readouterr().out
    assert "(default: 900)" in out and "(default: xcup)" in out
    assert "examples:" in out and "130  interrupted" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("steps", "recipes", "init", "--json", "--quiet", "--debug"):
        assert cmd in out
    assert EXIT_CODES in out


def test_steps_lists_every_schema_step_with_description_and_keys(capsys) -> None:
    assert main(["steps"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert set(lines) == set(STEPS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines.values())  # every step described
    assert "sparsity=0.7" in out and "reuse_factor=1" in out


def test_steps_json_has_keys_and_defaults(capsys) -> None:
    assert main(["--json", "steps"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["csim"]["keys"]["vectors"]["default"] == 10000
    assert doc["synth"]["keys"]["family"]["choices"] == ["xcup", "xc7"]


def test_recipes_lists_shipped_recipes_with_description(capsys) -> None:
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for path in RECIPES_DIR.glob("*.yaml"):
        line = next(s for s in out.splitlines() if s.startswith(path.name))
        assert load_recipe(path).description in line


def test_set_builds_overrides_for_sections_and_steps() -> None:
    raw = {"steps": [{"train": {"epochs": 3}}, "lower"]}
    got = overrides_from_sets(["data.max_rows=20000", "steps.train.epochs=5", "steps.lower.input.width=8",
                               "target.project_name=fast"], raw)
    assert got == {"data": {"max_rows": 20000}, "target": {"project_name": "fast"},
                   "steps": [{"train": {"epochs": 5}}, {"lower": {"input": {"width": 8}}}]}


@pytest.mark.parametrize("flag, message", [
    ("data.max_rowz=3", "--set data.max_rowz: unknown key 'max_rowz' (did you mean 'max_rows'?)"),
    ("steps.trian.epochs=3", "unknown key 'trian' (did you mean 'train'?)"),
    ("data.max_rows.x=3", "'max_rows' is a value, not a mapping"),
    ("steps.train.epochs=3", "the recipe has no 'train' step"),
    ("data.max_rows", "write --set dotted.path=value"),
    ("data.max_rows=[1", "the value is not valid YAML"),
    ("data.max_rows=abc", "data.max_rows: expected an integer, got str 'abc'"),
])
def test_bad_set_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, capsys, flag: str, message: str) -> None:
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(out), "--set", flag]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: ") and message in err and "\n" not in err
    assert not out.exists()


def test_set_value_reaches_the_run(tmp_path: Path, capsys) -> None:
    from hwai.ir.graph import Graph

    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "run"
    assert main(["--json", "compress", str(recipe), "--out", str(out), "--set", "data.max_rows=60",
                 "--set", "steps.lower.input={width: 12, integer: 4}"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["status"]["status"] == "complete"
    assert doc["report"]["firmware_metrics"]["n_events"] == 12   # 20 % of 60 rows
    graph = Graph.load(out / "steps" / "01_lower" / "checkpoint")
    assert graph.tensor(graph.inputs[0]).type.width == 12


def test_set_value_is_recorded_in_the_run_recipe(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "run"
    assert main(["--quiet", "compress", str(recipe), "--out", str(out), "--set", "data.max_rows=60"]) == 0
    assert yaml.safe_load((out / "recipe.yaml").read_text())["data"]["max_rows"] == 60


def test_json_compress_keeps_stdout_for_one_document(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    assert main(["compress", str(recipe), "--out", str(tmp_path / "run"), "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)   # nothing else on stdout
    assert doc["run_dir"] == str(tmp_path / "run") and "estimate" in doc["report"]
    assert "[hwai] [1/2] lower" in cap.err


def test_json_error_is_a_document_too(tmp_path: Path, capsys) -> None:
    assert main(["--json", "report", str(tmp_path)]) == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out) == {"ok": False, "exit_code": 1,
                                   "error": f"{tmp_path}: no report.md; the run did not complete"}
    assert cap.err.startswith("hwai: ")


def test_json_report(tmp_path: Path, capsys) -> None:
    (tmp_path / "report.md").write_text("# hwai run\n")
    (tmp_path / "report.json").write_text('{"firmware_accuracy": 0.75}')
    assert main(["report", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == {"firmware_accuracy": 0.75}


def test_quiet_prints_only_the_run_folder(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "run"
    assert main(["-q", "compress", str(recipe), "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == str(out) and "[hwai]" not in cap.out + cap.err


def test_validate_takes_set_and_json(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    assert main(["validate", str(recipe), "--json", "--set", "data.max_rows=60"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["checks"][0]["name"] == "recipe"
    assert main(["validate", str(recipe), "--json", "--set", "data.max_rowz=60"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 2 and "did you mean 'max_rows'" in doc["checks"][0]["detail"]


def test_runs_json_lists_run_folders(tmp_path: Path, capsys) -> None:
    recipe = tiny_recipe(tmp_path)
    assert main(["-q", "compress", str(recipe), "--out", str(tmp_path / "runs" / "a")]) == 0
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["status"]) for r in rows] == [("a", "complete")]
    assert main(["runs", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["run", "status", "accuracy", "LUT", "mismatches"]


# --- hwai init ------------------------------------------------------------------------


def _keras_h5(path: Path, n_in: int = 4, n_out: int = 3) -> Path:
    keras = pytest.importorskip("tensorflow").keras
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", input_shape=(n_in,), name="fc1"),
                              keras.layers.Dense(n_out, name="out")])
    model.save(path)
    return path


def test_init_writes_a_valid_recipe_that_runs(tmp_path: Path, capsys) -> None:
    model = _keras_h5(tmp_path / "my model.h5")
    data = tiny_data(tmp_path / "d.npz")
    out = tmp_path / "cfg" / "my.yaml"
    assert main(["init", "--model", str(model), "--data", str(data), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("# Starter recipe") and "class_names" in text
    recipe = load_recipe(out)
    assert recipe.name == "my_model" and recipe.model["path"] == str(model.resolve())
    assert recipe.data["class_names"] == ["0", "1", "2"]
    assert main(["-q", "compress", str(out), "--out", str(tmp_path / "run"), "--to", "estimate"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["firmware_metrics"]["n_events"] == 240   # every row is a test row (no training)


def test_init_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("my notes\n")
    assert main(["init", "--model", "m.h5", "--data", "d.npz", "-o", str(out)]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "my notes\n"


@pytest.mark.parametrize("name, content, message", [
    ("m.onnx", b"x", "an ONNX file cannot be a recipe's model"),
    ("m.h5", b"not hdf5", "not a readable Keras model"),
    ("m.txt", b"x", "unsupported model type '.txt'"),
])
def test_init_bad_model_is_exit_2(tmp_path: Path, capsys, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    data = tiny_data(tmp_path / "d.npz")
    assert main(["init", "--model", str(tmp_path / name), "--data", str(data), "-o", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "r.yaml").exists()


def test_init_feature_count_mismatch_is_exit_2(tmp_path: Path, capsys) -> None:
    model = _keras_h5(tmp_path / "m.h5", n_in=5)
    data = tiny_data(tmp_path / "d.npz")
    assert main(["init", "--model", str(model), "--data", str(data), "-o", str(tmp_path / "r.yaml")]) == 2
    assert "takes 5 inputs but --data d.npz has 4 features" in capsys.readouterr().err


def test_init_takes_a_torch_file_as_is(tmp_path: Path, capsys) -> None:
    (tmp_path / "net.pt").write_bytes(b"not inspected")
    data = tiny_data(tmp_path / "d.npz")
    out = tmp_path / "r.yaml"
    assert main(["init", "--model", str(tmp_path / "net.pt"), "--data", str(data), "-o", str(out)]) == 0
    recipe = load_recipe(out)
    assert recipe.model["framework"] == "torch" and recipe.model["trust_pickle"] is False


def test_csim_and_synth_json(monkeypatch, tmp_path: Path, capsys) -> None:
    from hwai.recipe import offline

    monkeypatch.setattr(offline, "csim_run", lambda run_dir, backends: {
        "native": {"mismatches": 2, "summary": "2/10 vectors differ"}})
    monkeypatch.setattr(offline, "synth_run", lambda run_dir, cfg: {"total": {"lut": 123}, "family": cfg["family"]})
    assert main(["--json", "csim", str(tmp_path)]) == 5
    assert json.loads(capsys.readouterr().out) == {"ok": False, "backends": {
        "native": {"mismatches": 2, "summary": "2/10 vectors differ"}}}
    assert main(["synth", str(tmp_path), "--json", "--family", "xc7"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "total": {"lut": 123}, "family": "xc7"}
    assert main(["synth", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "lut: 123"
