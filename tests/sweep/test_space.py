"""The search: block: paths, kinds, contradictions and objectives fail in one line, exit 2/3."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import pytest
import yaml

from hwai.cli import main
from hwai.errors import RecipeError
from hwai.sweep.space import decode, parse_search, trial_document

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "name": "s", "seed": 1,
    "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [8]},
    "data": {"source": "data.npz"},
    "budget": {"lut": 60000, "dsp": 100},
    "steps": [{"train": {"epochs": 1}}, {"prune": {"sparsity": 0.5}}, {"quantize": {"bits": 6}},
              "lower", "estimate", "budget", {"emit": {"backend": ["native"]}}, "csim"],
    "search": {"trials": 4, "methods": {"none": ["train"], "pq": ["train", "prune", "quantize"]},
               "space": {"steps.prune.sparsity": {"uniform": [0.5, 0.9]},
                         "steps.quantize.bits": {"int": [3, 8]},
                         "model.hidden": {"choice": [[8], [16, 8]]}}},
}


def doc_with(**search) -> dict:
    doc = copy.deepcopy(BASE)
    doc["search"].update(search)
    return doc


def test_parse_a_valid_block() -> None:
    s = parse_search(BASE, "r.yaml")
    assert s.trials == 4 and list(s.methods) == ["none", "pq"]
    assert [p.path for p in s.params] == ["steps.prune.sparsity", "steps.quantize.bits", "model.hidden"]


def test_trial_document_keeps_the_methods_steps_and_sets_values() -> None:
    s = parse_search(BASE, "r.yaml")
    values = decode(s, {"method": "pq", "steps.prune.sparsity": 0.8, "steps.quantize.bits": 4,
                        "model.hidden": "16x8"})
    doc = trial_document(BASE, s, values)
    names = [next(iter(x)) if isinstance(x, dict) else x for x in doc["steps"]]
    assert names == ["train", "prune", "quantize", "lower", "estimate", "budget"]  # emit/csim are for --best
    assert doc["steps"][1] == {"prune": {"sparsity": 0.8}} and doc["steps"][2]["quantize"]["bits"] == 4
    assert doc["model"]["hidden"] == [16, 8] and doc["budget"]["on_fail"] == "warn"
    none = trial_document(BASE, s, {"method": "none"})
    assert [next(iter(x)) if isinstance(x, dict) else x for x in none["steps"]][:2] == ["train", "lower"]
    full = trial_document(BASE, s, {"method": "none"}, firmware=True)
    assert "csim" in full["steps"] and "on_fail" not in full["budget"]


@pytest.mark.parametrize("search, message", [
    ({"space": {"steps.prune.sparsty": {"uniform": [0.5, 0.9]}}}, "unknown field 'sparsty' under steps.prune (did you mean 'sparsity'?)"),
    ({"space": {"model.hiden": {"choice": [[8]]}}}, "unknown field 'hiden' under model (did you mean 'hidden'?)"),
    ({"space": {"steps.prunne.sparsity": {"uniform": [0.5, 0.9]}}}, "the recipe has no 'prunne' step (did you mean 'prune'?)"),
    ({"space": {"steps.prune.sparsity": {"uniform": [0.9, 0.5]}}}, "low 0.9 is not below high 0.5; an empty range"),
    ({"space": {"steps.prune.sparsity": {"uniform": [0.5, 1.5]}}}, "1.5 is above the maximum 0.99"),
    ({"space": {"steps.quantize.bits": {"choice": []}}}, "expected a non-empty list"),
    ({"space": {"steps.quantize.bits": {"normal": [1, 2]}}}, "unknown kind 'normal'"),
    ({"space": {}, "methods": {"only": ["train"]}}, "the space is empty"),
    ({"methods": {"none": ["train"], "sr": ["train", "symbolic"]}}, "the recipe has no 'symbolic' step"),
    ({"methods": {"none": ["train"], "x": ["train", "lowr"]}}, "'lowr' is not a training step"),
    ({"methods": {"none": ["train"], "q": ["train", "quantize"]}}, "no method in search.methods runs 'prune'"),
    ({"methods": {"none": ["train"], "x": ["train", {"quantize": {"method": "hgq"}, "prune": {}}]}},
     "write a step name or {step: {setting: value}}"),
    ({"methods": {"none": ["train"], "x": ["train", {"quantise": {"method": "hgq"}}]}},
     "'quantise' is not a training step (train, prune, quantize, distill, symbolic) (did you mean 'quantize'?)"),
    ({"methods": {"none": ["train"], "x": ["train", "prune", {"prune": {"sparsity": 0.5}}]}}, "a step is listed twice"),
    ({"objective": {"metric": "acuracy"}}, "'acuracy' is not a physics metric hwai reports (did you mean 'accuracy'?)"),
    ({"objective": {"cost": "synth_lut+dsp"}}, "produced by a 'synth' step, which this recipe does not run"),
])
def test_bad_search_blocks_fail_in_one_line(search: dict, message: str) -> None:
    with pytest.raises(RecipeError) as err:
        parse_search(doc_with(**search), "r.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_method_sets_its_own_step_settings_on_top_of_the_recipe() -> None:
    doc = doc_with(methods={"pq": ["train", "prune", "quantize"],
                            "hgq": ["train", {"quantize": {"method": "hgq", "epochs": 7}}]},
                   space={"steps.quantize.beta": {"loguniform": [1e-7, 1e-5]},
                          "steps.prune.sparsity": {"uniform": [0.5, 0.9]}})
    s = parse_search(doc, "r.yaml")
    assert s.methods["hgq"] == ("train", "quantize")
    hgq = trial_document(doc, s, {"method": "hgq", "steps.quantize.beta": 2e-6, "steps.prune.sparsity": 0.6})
    assert [next(iter(x)) if isinstance(x, dict) else x for x in hgq["steps"]][:2] == ["train", "quantize"]
    assert hgq["steps"][1]["quantize"] == {"bits": 6, "method": "hgq", "epochs": 7, "beta": 2e-6}
    pq = trial_document(doc, s, {"method": "pq", "steps.quantize.beta": 2e-6, "steps.prune.sparsity": 0.6})
    assert pq["steps"][2]["quantize"] == {"bits": 6, "beta": 2e-6}    # the hgq settings are that method's alone
    assert doc["steps"][2] == {"quantize": {"bits": 6}}                 # the recipe document is not changed


def test_a_method_setting_that_breaks_the_recipe_is_named() -> None:
    doc = doc_with(methods={"pq": ["train", "prune", "quantize"], "bad": ["train", {"quantize": {"method": "hqg"}}]})
    with pytest.raises(RecipeError, match=r"search.methods.bad: its recipe is not valid: .*'hqg'"):
        parse_search(doc, "r.yaml")


def test_a_method_whose_recipe_is_invalid_is_named() -> None:
    bad = doc_with()
    bad["search"]["space"] = {"steps.quantize.integer": {"choice": [7]}, "steps.quantize.bits": {"int": [3, 8]}}
    with pytest.raises(RecipeError, match=r"search.methods.pq: its recipe is not valid: .*integer: 7 is more than bits-1"):
        parse_search(bad, "r.yaml")


def _cli(tmp_path: Path, doc: dict, *args: str, capsys) -> tuple[int, str]:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["sweep", str(path), "--out", str(tmp_path / "sw"), *args])
    return code, capsys.readouterr().err


def test_cli_unknown_path_exit_2_nothing_started(tmp_path: Path, capsys) -> None:
    code, err = _cli(tmp_path, doc_with(space={"steps.prune.sparsty": {"uniform": [0.5, 0.9]}}), capsys=capsys)
    assert code == 2 and "did you mean 'sparsity'?" in err and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


def test_cli_schema_error_in_search_exit_2(tmp_path: Path, capsys) -> None:
    code, err = _cli(tmp_path, doc_with(trails=3), capsys=capsys)
    assert code == 2 and "search.trails: unknown key (did you mean 'trials'?)" in err


def test_cli_unreachable_address_exit_3_nothing_started(tmp_path: Path, capsys) -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        code, err = _cli(tmp_path, BASE, "--address", f"127.0.0.1:{port}", capsys=capsys)
    assert code == 3 and f"--address 127.0.0.1:{port}: no Ray head answers there" in err
    assert not (tmp_path / "sw").exists()


def test_cli_resume_without_a_sweep_exit_2(tmp_path: Path, capsys) -> None:
    code, err = _cli(tmp_path, BASE, "--resume", capsys=capsys)
    assert code == 2 and "no sweep to resume" in err


@pytest.mark.parametrize("flag", [["--time-limit", "600"], ["--trials", "80"]])
def test_cli_resume_cannot_change_trials_or_time_limit(tmp_path: Path, capsys, flag: list[str]) -> None:
    code, err = _cli(tmp_path, BASE, "--resume", *flag, capsys=capsys)
    assert code == 2 and "--trials/--time-limit cannot change on --resume" in err and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


def test_cli_missing_data_file_exit_2_nothing_started(tmp_path: Path, capsys) -> None:
    code, err = _cli(tmp_path, BASE, capsys=capsys)
    assert code == 2 and "data.npz" in err and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


def test_cli_best_on_a_plain_folder_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(tmp_path), "--best"]) == 2
    assert "not a finished hwai sweep" in capsys.readouterr().err


def test_compress_accepts_a_recipe_with_search() -> None:
    from hwai.recipe.schema import load_recipe

    recipe = load_recipe(REPO / "recipes" / "jet_tagging_sweep.yaml")
    assert recipe.raw["search"]["trials"] == 40
    parse_search(recipe.raw, str(recipe.path))


def test_step_reporter_reports_training_steps_and_lower_only(tmp_path: Path) -> None:
    import json

    from hwai.sweep.trial import StepReporter

    s = parse_search(BASE, "r.yaml")
    sent: list[dict] = []
    rep = StepReporter(tmp_path / "run", s, {"method": "pq"}, sent.append)
    steps = {"01_train": {"step": "train", "metrics": {"accuracy": 0.7}, "candidates": [{"lut": 9e4, "dsp": 10}]},
             "02_lower": {"step": "lower", "firmware_metrics": {"accuracy": 0.69}},
             "03_estimate": {"step": "estimate", "total": {"lut": 2e4, "dsp": 0}}}
    for name, doc in steps.items():
        (tmp_path / "run" / "steps" / name).mkdir(parents=True)
        (tmp_path / "run" / "steps" / name / "report.json").write_text(json.dumps(doc))
        rep(f"[hwai] {name} done")
    rep.log.close()
    assert [(r["step"], r["objective"], r["cost"]) for r in sent] == [("train", 0.7, 91000.0), ("lower", 0.69, 91000.0)]
    assert "01_train done" in (tmp_path / "run.log").read_text()
