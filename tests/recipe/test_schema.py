"""Recipe validation: one-line errors naming the field, with 'did you mean', before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwai.errors import RecipeError
from hwai.recipe.schema import load_recipe, recipe_from_dict

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
