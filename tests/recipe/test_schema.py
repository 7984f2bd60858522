"""Recipe validation: one-line errors naming the field, with 'did you mean', before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwai.errors import RecipeError
from hwai.recipe.schema import load_recipe, recipe_from_dict
from tests.recipe.test_runner import fake  # noqa: F401  (fixture: a fake engine and dataset)

REPO = Path(__file__).resolve().parents[2]
BASE = {"name": "t", "model": {"arch": "jet_mlp"}, "steps": ["train"]}


def _err(doc: dict) -> str:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(doc, Path("r.yaml"))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("r.yaml: ")
    return msg


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(path: Path) -> None:
    r = load_recipe(path)
    assert r.name and r.steps


def test_defaults_and_lower_insertion() -> None:
    r = recipe_from_dict({**BASE, "steps": ["train", {"quantize": {"bits": 4}}, "estimate", "emit"]})
    assert r.step_names() == ["train", "quantize", "lower", "estimate", "emit"]
    assert r.steps[1].cfg["bits"] == 4 and r.steps[1].cfg["integer"] == 0
    assert r.steps[4].cfg["backend"] == ["hls4ml", "native"]
    assert r.data["split"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    assert r.target["clock_period_ns"] == 5.0 and r.budget["on_fail"] == "error"
    assert [s.folder for s in r.steps][:2] == ["01_train", "02_quantize"]


@pytest.mark.parametrize("doc, expect", [
    ({**BASE, "budgt": {}}, "budgt: unknown key (did you mean 'budget'?)"),
    ({**BASE, "steps": [{"trian": {}}]}, "steps[0]: unknown step 'trian' (did you mean 'train'?)"),
    ({**BASE, "steps": [{"train": {"epoch": 3}}]}, "steps[0].train.epoch: unknown key (did you mean 'epochs'?)"),
    ({**BASE, "steps": [{"train": {"epochs": "3"}}]}, "steps[0].train.epochs: expected an integer, got str '3'"),
    ({**BASE, "steps": [{"prune": {"sparsity": 1.5}}]}, "steps[0].prune.sparsity: 1.5 is above the maximum 0.99"),
    ({**BASE, "target": {"flavour": "vivdo"}}, "target.flavour: 'vivdo' is not one of vitis, vivado (did you mean 'vivado'?)"),
    ({**BASE, "steps": [{"emit": {"backend": "hls4m"}}]}, "steps[0].emit.backend: 'hls4m' is not one of hls4ml, native, verilog (did you mean 'hls4ml'?)"),
    ({"model": {"arch": "jet_mlp"}, "steps": []}, "name: required field is missing"),
    ({**BASE, "model": {"arch": "jet_mlp", "path": "m.h5"}}, "model: give exactly one of arch"),
    ({**BASE, "data": {"split": {"train": 0.5, "val": 0.2, "test": 0.2}}}, "data.split: fractions add up to 0.9, not 1"),
    ({**BASE, "budget": {"lut": True}}, "budget.lut: expected an integer, got a boolean"),
    ({**BASE, "steps": [{"train": 3}]}, "steps[0].train: expected a mapping of options"),
    ({**BASE, "steps": [{"quantize": {"layers": {"fc1": {"bitz": 3}}}}]},
     "steps[0].quantize.layers.fc1.bitz: unknown key (did you mean 'bits'?)"),
])
def test_errors_name_the_field(doc: dict, expect: str) -> None:
    assert expect in _err(doc)


def test_yaml_errors_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps: [train\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_digest_is_stable(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(BASE))
    assert load_recipe(p).digest == load_recipe(p).digest


# --- issue 10 part B: order of steps, real numeric ranges, identifiers, paths -----------

@pytest.mark.parametrize("steps, expect", [
    (["train", "lower", "prune", "estimate", "emit"],
     "steps[2].prune: comes after steps[1].lower, so its model would never reach the firmware"),
    (["estimate", "train"], "steps[0].estimate: works on the lowered IR, so it must come after the training-level"),
    (["train", "estimate", "lower"], "steps[1].estimate: works on the lowered IR, so it must come after steps[2].lower"),
    (["train", "lower", "lower"], "steps[2].lower: the IR is already made by steps[1].lower"),
    (["train", "symbolic", "quantize"], "steps[2].quantize: comes after steps[1].symbolic"),
    (["train", "lower", "csim", "emit"], "steps[2].csim: needs an earlier 'emit' step"),
])
def test_steps_in_a_valid_order(steps: list, expect: str) -> None:
    assert expect in _err({**BASE, "steps": steps})


def test_valid_orders_still_pass() -> None:
    for steps in (["train", "evaluate", "estimate"], ["evaluate", "lower", "estimate", "evaluate"],
                  ["train", "symbolic", "estimate", "emit", "csim"], ["train", "prune", "lower", "emit", "csim"]):
        recipe_from_dict({**BASE, "steps": steps})


@pytest.mark.parametrize("doc, expect", [
    ({**BASE, "steps": [{"quantize": {"bits": 0}}]}, "steps[0].quantize.bits: 0 is below the minimum 1"),
    ({**BASE, "steps": [{"quantize": {"bits": -3}}]}, "steps[0].quantize.bits: -3 is below the minimum 1"),
    ({**BASE, "steps": [{"quantize": {"bits": 6, "integer": 8}}]},
     "steps[0].quantize.integer: 8 is more than bits-1 = 5 (a signed quantizer keeps one bit for the sign"),
    ({**BASE, "steps": [{"quantize": {"activation": {"bits": 4, "integer": 5}}}]},
     "steps[0].quantize.activation.integer: 5 is more than bits+0 = 4"),
    ({**BASE, "steps": [{"quantize": {"layers": {"fc1": {"bits": 4, "integer": 9}}}}]},
     "steps[0].quantize.layers.fc1.integer: 9 is more than bits+0 = 4"),
    ({**BASE, "steps": ["train", {"lower": {"input": {"width": 8}}}]},
     "steps[1].lower.input.integer: required together with width (e.g. {width: 16, integer: 6})"),
    ({**BASE, "model": {"arch": "jet_mlp", "hidden": []}}, "model.hidden: needs at least 1 item(s), got 0"),
    ({**BASE, "data": {"class_names": ["g", "q", "g"]}}, "data.class_names: g given more than once"),
    ({**BASE, "data": {"class_names": ["g"]}}, "data.class_names: needs at least 2 item(s), got 1"),
    ({**BASE, "target": {"project_name": "my project-1"}},
     "target.project_name: 'my project-1' is not allowed; a C and Verilog identifier"),
    ({**BASE, "target": {"project_name": "1proj"}}, "target.project_name: '1proj' is not allowed"),
    ({**BASE, "name": "../x"}, "name: '../x' is not allowed; the run folder's name under runs/"),
    ({**BASE, "name": ".."}, "name: '..' is not allowed"),
    ({**BASE, "name": "a\\b"}, "name: 'a\\\\b' is not allowed"),
])
def test_numeric_ranges_and_identifiers(doc: dict, expect: str) -> None:
    assert expect in _err(doc)


def test_integer_bits_boundaries_accepted() -> None:
    r = recipe_from_dict({**BASE, "steps": [{"quantize": {"bits": 6, "integer": 5, "activation": {"bits": 6, "integer": 6}}}]})
    assert r.steps[0].cfg["integer"] == 5


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "recipes"
    sub.mkdir()
    doc = {"name": "t", "model": {"path": "../models/m.h5", "weights": "/abs/w.h5"},
           "data": {"source": "data/d.npz"}, "steps": [{"distill": {"teacher": "t.h5"}}]}
    (sub / "r.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(tmp_path.parent)   # the current directory must not matter
    r = load_recipe(sub / "r.yaml")
    assert r.model["path"] == str(tmp_path / "models" / "m.h5")
    assert r.model["weights"] == "/abs/w.h5"
    assert r.data["source"] == str(sub / "data" / "d.npz")
    assert r.steps[0].cfg["teacher"] == str(sub / "t.h5")
    plain = recipe_from_dict({**BASE, "steps": [{"distill": {}}]})
    assert plain.data["source"].startswith("openml:") and plain.steps[0].cfg["teacher"] == "previous"


def test_shipped_reference_recipe_runs_from_any_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    r = load_recipe(REPO / "recipes" / "qkeras_reference.yaml")
    assert r.data["source"] == str(REPO.parent / "shared" / "data" / "openml_jets_sample1000_standardized.npz")


@pytest.mark.usefixtures("fake")
def test_reuse_factor_within_the_layer_size(tmp_path: Path) -> None:
    """The fake model is 8-6-4: the smallest dense layer has 6*4 = 24 multiplications."""
    from hwai.recipe.runner import run_recipe

    bad = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"}, "seed": 0,
                            "steps": [{"train": {"epochs": 1}}, {"lower": {"reuse_factor": 1000000}}]},
                           Path("t.yaml"))
    with pytest.raises(RecipeError) as info:
        run_recipe(bad, tmp_path / "run", log=lambda m: None)
    assert str(info.value).startswith("t.yaml: steps[1].lower.reuse_factor: 1000000 is larger than dense layer")
    assert "'fc2' (24 multiplications); use at most 24" in str(info.value) and info.value.exit_code == 2
    ok = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"},
                           "steps": [{"train": {"epochs": 1}}, {"lower": {"reuse_factor": 24}}]}, Path("t.yaml"))
    run_recipe(ok, tmp_path / "run2", log=lambda m: None)


@pytest.mark.parametrize("doc, expect", [
    ({**BASE, "name": "../x"}, "name: '../x' is not allowed"),
    ({**BASE, "steps": ["train", "lower", "prune", "estimate", "emit"]}, "steps[2].prune: comes after steps[1].lower"),
    ({**BASE, "target": {"project_name": "my project-1"}}, "target.project_name: 'my project-1' is not allowed"),
])
def test_cli_exit_2_and_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys,
                                        doc: dict, expect: str) -> None:
    from hwai.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(doc))
    assert main(["compress", "r.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: r.yaml: ") and expect in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name == "x") == [] and not (tmp_path / "runs").exists()


def test_with_absolute_paths_keeps_files_reachable_from_a_copy(tmp_path: Path) -> None:
    from hwai.recipe.schema import with_absolute_paths

    doc = {**BASE, "data": {"source": "data/x.npz"},
           "steps": ["train", {"distill": {"teacher": "models/t.h5"}}, "lower"]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(doc))
    out = with_absolute_paths(load_recipe(tmp_path / "r.yaml"))
    assert out["data"]["source"] == str(tmp_path / "data" / "x.npz")
    assert out["steps"][1]["distill"]["teacher"] == str(tmp_path / "models" / "t.h5")
    copy = tmp_path / "elsewhere" / "recipe.yaml"
    copy.parent.mkdir()
    copy.write_text(yaml.safe_dump(out))
    assert load_recipe(copy).data["source"] == str(tmp_path / "data" / "x.npz")


@pytest.mark.unit
@pytest.mark.parametrize("text,value", [("1e-5", 1e-5), ("3E-6", 3e-6), ("1.0e-5", 1e-5), ("-2e3", -2000.0),
                                        (".5", 0.5), ("7", 7), ("1e5x", "1e5x"), ("abc", "abc")])
def test_yaml_reads_exponent_floats_as_numbers(text: str, value) -> None:
    from hwai.recipe.schema import load_yaml
    got = load_yaml(f"v: {text}")["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.unit
def test_a_recipe_with_beta_1e_minus_5_is_valid(tmp_path) -> None:
    from hwai.recipe.schema import load_recipe
    p = tmp_path / "r.yaml"
    p.write_text("name: r\nmodel: {arch: jet_mlp}\ndata: {source: x.npz}\n"
                 "steps:\n  - train: {epochs: 1}\n  - quantize: {method: hgq, beta: 1e-5}\n")
    r = load_recipe(p)
    assert r.steps[1].cfg["beta"] == 1e-5
