"""The sweep driver without a sweep: Ctrl-C detection, --set on sweeps, resume checks, epoch reports."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from hwai.cli import main, sweep_hint
from hwai.errors import RecipeError
from hwai.sweep.driver import MARKER, _check_overrides, _fit, flat_paths
from hwai.sweep.space import parse_search
from tests.sweep.test_space import BASE

tune = pytest.importorskip("ray.tune.tune", reason="hwai sweep needs ray[tune]")


class FakeTuner:
    """``fit()`` the way Ray Tune's run() treats SIGINT (its own handler), then an optional error."""

    def __init__(self, ctrl_c: bool, error: Exception | None = None) -> None:
        self.ctrl_c, self.error = ctrl_c, error

    def fit(self) -> None:
        stop = tune._setup_signal_catching()  # Ray Tune's own handler, as tune.run installs it
        if self.ctrl_c:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.time() + 5
            while not stop.is_set() and time.time() < deadline:
                time.sleep(0.01)
            assert stop.is_set()
        if self.error:
            raise self.error


@pytest.fixture()
def our_handler():
    def ours(signum, frame):  # pragma: no cover - never called: Tune's handler comes first
        raise AssertionError("SIGINT reached the previous handler")

    previous = signal.signal(signal.SIGINT, ours)
    yield ours
    signal.signal(signal.SIGINT, previous)


def test_fit_tells_ctrl_c_from_a_normal_end_and_puts_our_handler_back(our_handler) -> None:
    assert _fit(FakeTuner(ctrl_c=False)) is False
    assert signal.getsignal(signal.SIGINT) is our_handler  # Tune's handler would swallow a later Ctrl-C
    assert _fit(FakeTuner(ctrl_c=True)) is True
    assert signal.getsignal(signal.SIGINT) is our_handler


def test_fit_an_error_after_ctrl_c_is_the_interrupt_an_error_without_is_raised(our_handler) -> None:
    assert _fit(FakeTuner(ctrl_c=True, error=RuntimeError("actor died"))) is True
    with pytest.raises(RuntimeError, match="actor died"):
        _fit(FakeTuner(ctrl_c=False, error=RuntimeError("actor died")))
    assert signal.getsignal(signal.SIGINT) is our_handler


def _args(tmp_path: Path, **kw) -> argparse.Namespace:
    base = {"target": Path("r.yaml"), "data": None, "sweep_dir": tmp_path / "sw", "trials": None,
            "time_limit": None, "address": None, "set": None}
    return argparse.Namespace(**{**base, **kw})


def test_sweep_hint_resumes_a_started_sweep_and_reruns_one_that_wrote_nothing(tmp_path: Path) -> None:
    args = _args(tmp_path, data="d.npz", trials=6, set=["data.max_rows=3000", "model.hidden=[16, 8]"])
    assert sweep_hint(args) == (f"nothing was written; rerun: hwai sweep r.yaml --data d.npz --out {tmp_path}/sw "
                                "--trials 6 --set data.max_rows=3000 --set 'model.hidden=[16, 8]'")
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / MARKER).write_text("{}")
    assert sweep_hint(args).startswith("resume with: hwai sweep r.yaml --data d.npz") and args.set[0] in sweep_hint(args)
    assert sweep_hint(args).endswith(" --resume")


def test_flat_paths_name_steps_like_set() -> None:
    flat = flat_paths({"data": {"max_rows": 5}, "steps": [{"train": {"epochs": 2}}, "lower"]})
    assert flat == {"data.max_rows": 5, "steps.train.epochs": 2}


def test_resume_refuses_a_changed_set_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "recipe.json").write_text(json.dumps({**BASE, "steps": [{"train": {"epochs": 4}}]}))
    _check_overrides(tmp_path, {**BASE, "steps": [{"train": {"epochs": 4}}]})  # the same: accepted
    with pytest.raises(RecipeError) as err:
        _check_overrides(tmp_path, {**BASE, "steps": [{"train": {"epochs": 5}}], "seed": 2})
    msg = str(err.value)
    assert "--set differs from the sweep's (seed 1 -> 2; steps.train.epochs 4 -> 5)" in msg and "\n" not in msg


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


def test_sweep_set_uses_compress_parser_and_errors(tmp_path: Path, capsys) -> None:
    code = main(["sweep", str(_recipe(tmp_path)), "--out", str(tmp_path / "sw"), "--set", "steps.train.epochz=3"])
    err = capsys.readouterr().err
    assert code == 2 and err == "hwai: --set steps.train.epochz: unknown key 'epochz' (did you mean 'epochs'?)\n"
    code = main(["sweep", str(_recipe(tmp_path)), "--out", str(tmp_path / "sw"), "--set", "steps.evaluate.signal_efficiency=0.3"])
    assert code == 2 and "the recipe has no 'evaluate' step" in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()


def test_sweep_set_reaches_the_search_block(tmp_path: Path, capsys) -> None:
    """--set search.* is validated like the file's own search: block (nothing started)."""
    code = main(["sweep", str(_recipe(tmp_path)), "--out", str(tmp_path / "sw"), "--set", "search.trials=0"])
    assert code == 2 and "search.trials" in capsys.readouterr().err


def test_best_refuses_set(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(tmp_path), "--best", "--set", "seed=2"]) == 2
    assert "--best re-runs the point the sweep chose" in capsys.readouterr().err


def test_resume_before_ray_saved_state_starts_afresh(tmp_path: Path) -> None:
    from hwai.sweep.driver import _tuner

    search = parse_search(BASE, "r.yaml")
    setup = {"doc": BASE, "recipe_path": "r.yaml", "sweep_dir": str(tmp_path), "data": None}
    assert not (tmp_path / "tune").exists()
    assert _tuner(setup, search, tmp_path, resume=True) is not None  # Tuner.restore would raise


def test_step_reporter_reports_epochs_and_steps_without_epochs(tmp_path: Path) -> None:
    from hwai.sweep.trial import StepReporter

    sent: list[dict] = []
    rep = StepReporter(tmp_path / "run", parse_search(BASE, "r.yaml"), {"method": "pq"}, sent.append)
    rep.epoch("train", 1, 2, 0.41)
    rep.epoch("train", 2, 2, 0.55)
    for name, doc in {"01_train": {"step": "train", "metrics": {"accuracy": 0.6}},
                      "02_lower": {"step": "lower", "firmware_metrics": {"accuracy": 0.58}}}.items():
        (tmp_path / "run" / "steps" / name).mkdir(parents=True)
        (tmp_path / "run" / "steps" / name / "report.json").write_text(json.dumps(doc))
        rep(f"{name} done")
    rep.log.close()
    # one report per epoch (ASHA's clock), none more for the train step, one for lower
    assert [(r["step"], r.get("epoch"), r["objective"]) for r in sent] == [
        ("train", 1, 0.41), ("train", 2, 0.55), ("lower", None, 0.58)]
