"""Issue 10 (part A): run folders that are safe, resume that is verified, gates that hold.

Each test reproduces one finding of the issue with the fake engine (no training) and
asserts the intended one-line message and exit code.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwai.cli import main
from hwai.data.dataset import Dataset
from hwai.errors import BudgetError, DataError, RunFolderError
from hwai.recipe import rundir, runner, steps
from hwai.recipe.schema import load_recipe
from tests.recipe.test_runner import FakeEngine

QUIET = {"log": lambda s: None}
DOC = {"name": "t", "seed": 1, "model": {"arch": "jet_mlp"}, "data": {"source": "data.npz"},
       "steps": [{"train": {"epochs": 1}}, {"prune": {"epochs": 1}}, "lower", "estimate",
                 {"emit": {"backend": ["native"]}}]}


@pytest.fixture
def fake(monkeypatch, tmp_path: Path) -> Path:
    """Fake engine and a data loader whose source file is real (its bytes are hashed)."""
    src = tmp_path / "data.npz"
    src.write_bytes(b"rows v1")

    def load(cfg, seed, override_path=None):
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(300, 8)).astype(np.float32), rng.integers(0, 4, 300)
        return Dataset(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], ("a", "b", "c", "d"),
                       tuple(f"f{i}" for i in range(8)), np.zeros(8), np.ones(8),
                       source=str(override_path or tmp_path / cfg["source"]))

    monkeypatch.setattr(steps, "make_engine", lambda fw: FakeEngine())
    monkeypatch.setattr("hwai.data.load_dataset", load)
    monkeypatch.chdir(tmp_path)
    return src


def _write_recipe(tmp_path: Path, **over) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({**DOC, **over}, sort_keys=False))
    return path


def _status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("hwai: "), err
    return err


# --- 1. run folders are safe -------------------------------------------------------------

def test_force_refuses_a_folder_without_the_marker(fake, tmp_path: Path, capsys) -> None:
    """Repro: d/src/thesis.tex + d/manifest.json; compress --force deleted it (exit 0)."""
    d = tmp_path / "d"
    (d / "src").mkdir(parents=True)
    (d / "src" / "thesis.tex").write_text("x")
    (d / "manifest.json").write_text("{}")
    (d / "status.json").write_text("{}")
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(d), "--force"]) == 2
    assert "not an hwai run folder (no .hwai-run.json); refusing to delete with --force" in _one_line_error(capsys)
    assert (d / "src" / "thesis.tex").read_text() == "x"
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "src", "status.json"]


def test_force_replaces_only_after_preflight(fake, tmp_path: Path, monkeypatch) -> None:
    """Repro: --force deleted a finished run before the data check found the error."""
    run = tmp_path / "run"
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, **QUIET)
    before = sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))

    def bad(cfg, seed, override_path=None):
        raise DataError("data.npz: 3 rows contain NaN")

    monkeypatch.setattr("hwai.data.load_dataset", bad)
    with pytest.raises(DataError, match="NaN"):
        runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, force=True, **QUIET)
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == before
    assert _status(run)["status"] == "complete"


def test_marker_lock_and_force_of_a_real_run(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, **QUIET)
    marker = json.loads((run / rundir.MARKER).read_text())
    assert marker["tool"] == "hwai" and marker["format"] == rundir.FORMAT and "hwai_version" in marker
    assert not (run / rundir.LOCK).exists()  # released at the end
    (run / "stale.txt").write_text("old")
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, force=True, **QUIET)
    assert not (run / "stale.txt").exists() and _status(run)["status"] == "complete"


def test_a_live_lock_stops_a_second_writer_even_with_force(fake, tmp_path: Path, capsys) -> None:
    """Repro: a second compress --force deleted the folder of a run in progress."""
    run = tmp_path / "run"
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, **QUIET)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / rundir.LOCK).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                                   "started": "2026-01-01T00:00:00Z"}))
        assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(run), "--force"]) == 2
        err = _one_line_error(capsys)
        assert f"in use by another hwai run (pid {holder.pid} on {socket.gethostname()}" in err
        assert (run / "report.json").exists()
        assert main(["emit", str(run)]) == 2  # offline commands respect the lock too
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead now: the lock is stale and taken over
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(run), "--force"]) == 0
    assert not (run / rundir.LOCK).exists()


def test_out_naming_a_file_exits_2_and_writes_nothing(fake, tmp_path: Path, capsys) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(target)]) == 2
    assert "is a file, not a folder" in _one_line_error(capsys)
    assert target.read_text() == "mine"
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(target / "sub")]) == 2
    assert "is a file, not a folder" in _one_line_error(capsys)


def test_run_name_with_a_path_separator_exits_2(fake, tmp_path: Path, capsys) -> None:
    """Repro: name: "../x" wrote outside runs/."""
    assert main(["compress", str(_write_recipe(tmp_path, name="../x"))]) == 2
    assert "name" in _one_line_error(capsys)
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs").exists()


# --- 2. resume is verified --------------------------------------------------------------

@pytest.fixture
def partial(fake, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), run, to_step="prune", **QUIET)
    return run


def test_missing_checkpoint_refuses_resume(partial: Path, tmp_path: Path, capsys) -> None:
    """Repro: deleting the quantize checkpoint made --from lower lower the unquantized model."""
    ckpt = next((partial / "steps" / "02_prune" / "checkpoint").glob("graph.npz"))
    ckpt.unlink()
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(partial), "--from", "lower"]) == 2
    assert ("steps/02_prune/checkpoint/graph.npz is missing since step prune wrote it; resume --from prune"
            in _one_line_error(capsys))
    assert not (partial / "steps" / "03_lower").exists()


def test_modified_checkpoint_refuses_resume(partial: Path, tmp_path: Path) -> None:
    ckpt = partial / "steps" / "01_train" / "checkpoint" / "graph.json"
    ckpt.write_text(ckpt.read_text().replace("fc1", "fc1x", 1))
    with pytest.raises(RunFolderError, match="graph.json is modified since step train wrote it"):
        runner.run_recipe(load_recipe(_write_recipe(tmp_path)), partial, from_step="lower", **QUIET)


@pytest.mark.parametrize("over, field", [({"seed": 2}, "seed (1 -> 2)"),
                                         ({"data": {"source": "data.npz", "max_rows": 100}},
                                          "data.max_rows (None -> 100)"),
                                         ({"data": {"source": "data.npz",
                                                    "split": {"train": 0.5, "val": 0.25, "test": 0.25}}},
                                          "data.split.test (0.2 -> 0.25)")])
def test_changed_recipe_inputs_refuse_resume(partial: Path, tmp_path: Path, capsys, over, field) -> None:
    assert main(["compress", str(_write_recipe(tmp_path, **over)), "--out", str(partial), "--from", "lower"]) == 2
    assert f"recipe field {field.replace(' (', ' changed (')} since the run's earlier steps were made" in _one_line_error(capsys)


def test_changed_data_file_refuses_resume(partial: Path, tmp_path: Path, fake: Path, capsys) -> None:
    fake.write_bytes(b"rows v2")
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(partial), "--from", "lower"]) == 2
    assert "data file changed" in _one_line_error(capsys)


def test_unchanged_resume_and_later_steps_may_change(partial: Path, tmp_path: Path) -> None:
    doc = {**DOC, "steps": DOC["steps"][:3] + ["estimate", {"emit": {"backend": ["verilog"]}}]}
    runner.run_recipe(load_recipe(_write_recipe(tmp_path, **doc)), partial, from_step="lower", **QUIET)
    assert _status(partial)["status"] == "complete" and (partial / "verilog").is_dir()
    man = json.loads((partial / "manifest.json").read_text())
    assert man["inputs"]["data"]["sha256"] and man["inputs"]["seed"] == 1
    assert set(man["steps"]) == {"01_train", "02_prune", "03_lower", "04_estimate", "05_emit"}
    assert "steps/03_lower/checkpoint/graph.npz" in man["steps"]["03_lower"]["files"]


# --- 2b. a failed budget is a gate --------------------------------------------------------

@pytest.fixture
def over_budget(fake, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    doc = {"budget": {"lut": 1}, "steps": DOC["steps"][:3] + ["estimate", "budget", {"emit": {"backend": ["native"]}}]}
    with pytest.raises(BudgetError):
        runner.run_recipe(load_recipe(_write_recipe(tmp_path, **doc)), run, **QUIET)
    assert _status(run)["status"] == "failed"
    return run


def test_failed_budget_cannot_be_resumed_into_success(over_budget: Path, tmp_path: Path, capsys) -> None:
    """Repro: --from emit after exit 4 gave exit 0, status complete, firmware emitted."""
    recipe = str(tmp_path / "r.yaml")
    assert main(["compress", recipe, "--out", str(over_budget), "--from", "emit"]) == 4
    assert "the run failed its budget (steps/05_budget/report.json)" in _one_line_error(capsys)
    assert not (over_budget / "native").exists() and _status(over_budget)["status"] == "failed"
    assert main(["compress", recipe, "--out", str(over_budget), "--from", "emit", "--ignore-budget"]) == 0
    assert _status(over_budget) | {"wall_s": 0} == {"status": "complete", "budget_ignored": True, "wall_s": 0}
    assert json.loads((over_budget / "report.json").read_text())["budget_ignored"] is True
    assert "passed over with --ignore-budget" in (over_budget / "report.md").read_text()


def test_failed_budget_cannot_be_emitted_without_the_flag(over_budget: Path, capsys) -> None:
    """Repro: hwai emit on the failed run exited 0."""
    assert main(["emit", str(over_budget), "--backend", "verilog"]) == 4
    assert "emitting it would hand off firmware that does not fit" in _one_line_error(capsys)
    assert not (over_budget / "verilog").exists()
    assert main(["emit", str(over_budget), "--backend", "verilog", "--ignore-budget"]) == 0
    assert _status(over_budget)["budget_ignored"] is True
    assert json.loads((over_budget / "report.json").read_text())["emit"]["budget_ignored"] is True


def test_ignore_budget_in_a_fresh_run_is_recorded(fake, tmp_path: Path) -> None:
    run = tmp_path / "run"
    doc = {"budget": {"lut": 1}, "steps": DOC["steps"][:3] + ["estimate", "budget"]}
    runner.run_recipe(load_recipe(_write_recipe(tmp_path, **doc)), run, ignore_budget=True, **QUIET)
    assert _status(run)["budget_ignored"] is True
    head = json.loads((run / "report.json").read_text())
    assert head["budget_ignored"] is True and head["budget"]["verdict"] == "fail"


# --- 2c. API overrides travel with the run ---------------------------------------------------

def test_api_overrides_are_the_runs_recipe(fake, tmp_path: Path) -> None:
    """Repro: overrides were not in the run's recipe.yaml; hwai emit RUN used -period 5."""
    import hwai.api as hw

    run = hw.compress(_write_recipe(tmp_path), out=tmp_path / "run",
                      overrides={"target": {"clock_period_ns": 2.5}}).run_dir
    assert load_recipe(run / "recipe.yaml").target["clock_period_ns"] == 2.5
    (run / "native").rename(tmp_path / "old_native")
    assert main(["emit", str(run), "--backend", "native"]) == 0
    assert "create_clock -period 2.5" in (run / "native" / "build_vitis.tcl").read_text()


def test_recipe_file_is_kept_verbatim_without_overrides(fake, tmp_path: Path) -> None:
    path = _write_recipe(tmp_path)
    path.write_text("# my comment\n" + path.read_text())
    run = tmp_path / "run"
    runner.run_recipe(load_recipe(path), run, **QUIET)
    assert (run / "recipe.yaml").read_text() == path.read_text()


# --- 5. hwai validate, hwai runs --------------------------------------------------------------

def test_validate_prints_one_line_per_check(fake, tmp_path: Path, capsys) -> None:
    assert main(["validate", str(_write_recipe(tmp_path)), "--out", str(tmp_path / "new")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["recipe", "output", "tools", "data"]
    assert all(" ok: " in ln for ln in lines)
    assert not (tmp_path / "new").exists()  # validate writes nothing


def test_validate_exits_with_the_first_errors_code(fake, tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "f").write_text("x")
    doc = {"steps": DOC["steps"] + [{"csim": {}}]}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["validate", str(_write_recipe(tmp_path, **doc)), "--out", str(tmp_path / "f")]) == 2
    out = capsys.readouterr().out
    assert "output   error: --out" in out and "tools    error: g++ not found on PATH" in out


def test_missing_tool_found_before_training(fake, tmp_path: Path, capsys, monkeypatch) -> None:
    """Repro: a missing g++ was found at the csim step, after training."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    doc = {"steps": DOC["steps"] + [{"csim": {}}]}
    assert main(["compress", str(_write_recipe(tmp_path, **doc)), "--out", str(tmp_path / "run")]) == 3
    assert "g++ not found on PATH" in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, value", [("layers", {"fc9": 0.5}), ("skip_layers", ["fc9"])])
def test_unknown_prune_layer_found_before_training(fake, tmp_path: Path, capsys, key, value) -> None:
    """A per-layer prune setting naming no weight layer stops the run before any step writes."""
    doc = {"steps": [{"train": {"epochs": 1}}, {"prune": {"epochs": 1, key: value}}, "lower"]}
    assert main(["compress", str(_write_recipe(tmp_path, **doc)), "--out", str(tmp_path / "run")]) == 2
    err = _one_line_error(capsys)
    assert f"steps[1].prune.{key}: no weight layer named 'fc9' in the model (weight layers: fc1)" in err   # the fake engine's
    assert not (tmp_path / "run").exists()


def test_runs_lists_only_marked_run_folders(fake, tmp_path: Path, capsys) -> None:
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), tmp_path / "runs" / "mine", **QUIET)
    (tmp_path / "runs" / "other").mkdir()
    (tmp_path / "runs" / "other" / "status.json").write_text('{"status": "complete"}')
    assert main(["runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "status", "accuracy", "LUT", "mismatches"]
    assert len(out) == 2 and out[1].split()[:2] == ["mine", "complete"] and "%" in out[1]
    (tmp_path / "runs" / "mine" / "status.json").write_text('{"status": "running"}')  # writer killed
    assert main(["runs", "runs"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["mine", "interrupted"]


def test_stale_lock_is_detected(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / rundir.LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    assert rundir.lock_holder(tmp_path) is None
    (tmp_path / rundir.LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert rundir.lock_holder(tmp_path)["pid"] == os.getpid()


def test_offline_commands_on_a_run_without_ir_exit_2(partial: Path, capsys) -> None:
    assert main(["emit", str(partial)]) == 2
    assert "no IR checkpoint; the run must include a lower" in _one_line_error(capsys)
    assert main(["csim", str(partial)]) == 2
    _one_line_error(capsys)


def test_validate_reports_a_bad_recipe_as_its_first_line(fake, tmp_path: Path, capsys) -> None:
    assert main(["validate", str(_write_recipe(tmp_path, name="a/b"))]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("recipe   error: ") and "name: 'a/b' is not allowed" in out[0]


def _marker(doc: dict) -> str:
    return json.dumps(doc)


FOLDERS = {  # folders that are not hwai runs, whatever their names suggest
    "plain files": {"thesis.tex": "x", "src/a.c": "int x;"},
    "manifest and status only": {"manifest.json": "{}", "status.json": '{"status": "complete"}'},
    "marker of another tool": {rundir.MARKER: _marker({"tool": "other", "format": 1})},
    "marker of a newer format": {rundir.MARKER: _marker({"tool": "hwai", "format": 99})},
    "unreadable marker": {rundir.MARKER: "{not json"},
    "marker as a folder": {f"{rundir.MARKER}/x": "1"},
}


@pytest.mark.parametrize("case", sorted(FOLDERS))
@pytest.mark.parametrize("flags", [[], ["--force"], ["--from", "lower"]])
def test_no_flag_deletes_or_writes_into_a_non_run_folder(fake, tmp_path: Path, capsys, case, flags) -> None:
    d = tmp_path / "d"
    for rel, text in FOLDERS[case].items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    before = {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}
    assert main(["compress", str(_write_recipe(tmp_path)), "--out", str(d), *flags]) == 2
    assert "not an hwai run folder" in _one_line_error(capsys)
    assert {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()} == before


def test_a_field_added_since_the_run_takes_its_default_on_resume(partial: Path, tmp_path: Path) -> None:
    """A run made before data.clip_quantile existed resumes (its default keeps the old behaviour),
    and a value other than the default still reads as a change."""
    man_path = partial / "manifest.json"
    man = json.loads(man_path.read_text())
    for key in ("clip_quantile", "inputs", "particles", "mask"):
        man["inputs"]["recipe"]["data"].pop(key, None)
    man_path.write_text(json.dumps(man))
    with pytest.raises(RunFolderError, match=r"data.clip_quantile changed \(0.001 -> 0.01\)"):
        runner.run_recipe(load_recipe(_write_recipe(tmp_path, data={"source": "data.npz", "clip_quantile": 0.01})),
                          partial, from_step="lower", **QUIET)
    runner.run_recipe(load_recipe(_write_recipe(tmp_path)), partial, from_step="lower", **QUIET)
    assert _status(partial)["status"] == "complete"


def test_the_same_data_file_at_another_path_resumes(partial: Path, tmp_path: Path, fake: Path) -> None:
    """The data file's bytes are the verified input: a copy of it elsewhere (a moved or re-linked
    data folder) resumes; another file's bytes at that path would not (test above)."""
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "data.npz").write_bytes(fake.read_bytes())
    doc = {**DOC, "data": {"source": "moved/data.npz"}}
    runner.run_recipe(load_recipe(_write_recipe(tmp_path, **doc)), partial, from_step="lower", **QUIET)
    assert _status(partial)["status"] == "complete"
