"""The recipe's ``outputs:`` block (several model outputs): every rule is one line naming
``outputs[i].field``, exit 2, before any training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwai import cli
from hwai.errors import RecipeError
from hwai.recipe.schema import recipe_from_dict

CLASSES = ["g", "q", "W", "Z", "t"]
SCORE = {"name": "top_tag", "task": "score", "signals": ["t"], "background": ["g", "q"]}


def _doc(outputs: list, **top) -> dict:
    doc = {"name": "two", "model": {"arch": "multihead", "hidden": [4], "heads": [2]},
           "data": {"source": "d.npz", "class_names": CLASSES},
           "outputs": outputs, "steps": [{"train": {"epochs": 1}}, "lower"]}
    return {**doc, **top}


def _error(doc: dict) -> str:
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(doc, Path("r.yaml"))
    return str(err.value)


@pytest.mark.unit
def test_a_valid_block_is_kept_in_order_with_defaults() -> None:
    rec = recipe_from_dict(_doc([{"name": "classes"}, SCORE]), Path("r.yaml"))
    assert [o["name"] for o in rec.outputs] == ["classes", "top_tag"]
    assert rec.outputs[0]["task"] == "classify" and rec.outputs[1]["rate"] == 0.01


@pytest.mark.unit
def test_the_torch_engine_takes_the_block_too() -> None:
    """torch trains one loss per output as Keras does (hwai/engines/torch/heads.py)."""
    doc = _doc([{"name": "classes"}, SCORE], model={"framework": "torch", "arch": "multihead"})
    rec = recipe_from_dict(doc, Path("r.yaml"))
    assert rec.model["framework"] == "torch" and [o["name"] for o in rec.outputs] == ["classes", "top_tag"]


@pytest.mark.unit
def test_without_the_block_a_recipe_has_no_outputs() -> None:
    doc = _doc([])
    del doc["outputs"]
    assert recipe_from_dict(doc, Path("r.yaml")).outputs is None


@pytest.mark.unit
@pytest.mark.parametrize("outputs, message", [
    ([{"name": "a"}, {"name": "a"}], "r.yaml: outputs[1].name: 'a' given more than once; names must differ"),
    ([{"name": "s", "task": "score", "background": ["g"]}],
     "r.yaml: outputs[0].signals: required for task: score (e.g. signals: [t], background: [g, q])"),
    ([{"name": "c", "signals": ["t"]}],
     "r.yaml: outputs[0].signals: only for task: score (a classify output uses every class)"),
    ([{"name": "s", "task": "score", "signals": ["t", "q"], "background": ["g", "q"]}],
     "r.yaml: outputs[0].signals: 'q' is also a background class"),
    ([{"name": "c"}, {**SCORE, "signals": ["Zz"]}],
     "r.yaml: outputs[1].signals: class 'Zz' is not in the data's classes (g, q, W, Z, t) (did you mean 'Z'?)"),
    ([{"name": "c", "tsk": "classify"}], "r.yaml: outputs[0].tsk: unknown key (did you mean 'task'?)"),
    ([{"name": "c", "task": "clasify"}],
     "r.yaml: outputs[0].task: 'clasify' is not one of classify, score (did you mean 'classify'?)"),
    ([{"name": "1c"}], "r.yaml: outputs[0].name: '1c' is not allowed; the output's name in the reports"),
])
def test_bad_blocks_name_the_field(outputs: list, message: str) -> None:
    assert _error(_doc(outputs)).startswith(message)


@pytest.mark.unit
def test_steps_and_settings_that_train_one_output_are_refused() -> None:
    doc = _doc([{"name": "c"}], steps=[{"train": {"epochs": 1}}, "distill", "lower"])
    assert "steps[1].distill: distill is not supported with outputs: yet" in _error(doc)
    doc = _doc([{"name": "c"}], steps=[{"quantize": {"method": "hgq"}}, "lower"])
    assert "steps[0].quantize: quantize.method hgq is not supported with outputs: yet" in _error(doc)
    doc = _doc([{"name": "c"}], model={"framework": "torch", "arch": "multihead"},
               steps=[{"quantize": {"method": "hgq"}}, "lower"])   # the torch engine refuses it alike
    assert "steps[0].quantize: quantize.method hgq is not supported with outputs: yet" in _error(doc)
    doc = _doc([{"name": "c"}], anomaly={"background": ["g"], "signals": ["t"]})
    assert "outputs: give either anomaly: (one score output) or outputs:, not both" in _error(doc)


# --- checked once the data is loaded and the model built, still before training ------------

def _files(tmp_path: Path, outputs: list, model: dict, class_names: bool = True) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(300) % 5
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(300, 4)).astype(np.float32), y=y,
             class_names=np.array(CLASSES))
    doc = {"name": "two", "model": model, "data": {"source": "d.npz"}, "outputs": outputs,
           "steps": [{"train": {"epochs": 1}}, "lower"]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path / "r.yaml"


def _compress(recipe: Path, capsys) -> tuple[int, str]:
    code = cli.main(["compress", str(recipe), "--out", str(recipe.parent / "run")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("outputs, model, message", [
    ([{"name": "c"}, SCORE], {"arch": "jet_mlp", "hidden": [4]},
     "outputs: 2 entries but the model has 1 output(s) (widths 5); give one entry per output, in order"),
    ([SCORE], {"arch": "jet_mlp", "hidden": [4]},
     "outputs[0].task: score takes one column, but model output 0 (top_tag) has 5"),
    ([{"name": "c"}, {**SCORE, "background": ["g", "qq"]}], {"arch": "multihead", "hidden": [4]},
     "outputs[1].background: class 'qq' is not in the data's classes (g, q, W, Z, t) (did you mean 'q'?)"),
])
def test_model_and_data_checks_exit_2_before_training(tmp_path: Path, capsys, outputs: list, model: dict,
                                                      message: str) -> None:
    recipe = _files(tmp_path, outputs, model)
    code, err = _compress(recipe, capsys)
    assert code == 2
    assert err == f"hwai: {recipe}: {message}\n"   # one line, nothing trained, no run folder
    assert not (tmp_path / "run").exists()
