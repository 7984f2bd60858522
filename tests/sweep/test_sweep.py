"""Real sweeps on Ray Tune with tiny data: local, killed and resumed, on a two-node cluster."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray.tune", reason="hwai sweep needs ray[tune] (pip install 'hwai[tune]')")
pytest.importorskip("optuna")
pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]


def tiny_recipe(tmp_path: Path, data: Path, trials: int) -> Path:
    doc = {
        "name": "tiny_sweep", "seed": 1,
        "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [8]},
        "data": {"source": str(data), "max_rows": 3000},
        "budget": {"lut": 60000, "dsp": 100, "on_fail": "error"},
        "steps": [{"train": {"epochs": 1, "batch_size": 256}},
                  {"quantize": {"bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 0},
                                "epochs": 1, "batch_size": 256}},
                  "lower", "estimate", "budget", {"emit": {"backend": ["native"]}}, {"csim": {"vectors": 200}}],
        "search": {"trials": trials, "methods": {"none": ["train"], "quantize": ["train", "quantize"]},
                   "space": {"steps.quantize.bits": {"int": [3, 8]}},
                   "scheduler": {"grace_period": 2}},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def ledgers(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (sweep / "trials").glob("*/trial.json")}


def test_tiny_local_sweep(tmp_path: Path, jets_npz: Path, capsys) -> None:
    from hwai.sweep.driver import run_sweep

    lines: list[str] = []
    sweep = run_sweep(tiny_recipe(tmp_path, jets_npz, 2), tmp_path / "sw", log=lines.append)
    assert any(line.startswith("[hwai] trial 2/2") and "best in budget" in line for line in lines), lines
    assert "[hwai]" not in capsys.readouterr().out  # the progress lines went to log, nowhere else
    doc = json.loads((sweep / "sweep.json").read_text())
    assert doc["trials"] == 2 and {r["method"] for r in doc["rows"]} <= {"none", "quantize"}
    assert doc["front"] and doc["chosen"] in doc["front"]
    for r in doc["front"]:
        assert (sweep / r["run_dir"] / "report.json").is_file() and (sweep / r["run_dir"] / "report.html").is_file()
    assert [t["rank"] for t in doc["recommendation"]] == list(range(1, len(doc["recommendation"]) + 1))
    md = (sweep / "sweep.md").read_text()
    assert "## Pareto front" in md and "## Recommendation" in md and "(trials/" in md
    html = (sweep / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html and "Recommendation" in html


@pytest.mark.slow
def test_best_reruns_the_chosen_point_to_firmware(tmp_path: Path, jets_npz: Path) -> None:
    from hwai.cli import main

    recipe = tiny_recipe(tmp_path, jets_npz, 2)
    doc = yaml.safe_load(recipe.read_text())
    doc["data"]["source"] = "openml:no_such_dataset"     # --data on the sweep: --best re-reads that file
    recipe.write_text(yaml.safe_dump(doc))
    assert main(["sweep", str(recipe), "--out", str(tmp_path / "sw"), "--data", str(jets_npz)]) == 0
    assert main(["sweep", str(tmp_path / "sw"), "--best"]) == 0
    head = json.loads((tmp_path / "sw" / "best" / "report.json").read_text())
    chosen = json.loads((tmp_path / "sw" / "sweep.json").read_text())["chosen"]
    assert head["firmware_accuracy"] == pytest.approx(chosen["accuracy"], abs=0.03)  # same point, retrained
    assert head["csim"]["mismatches"] == 0
    if "rtl" in head:
        assert head["rtl"]["mismatches"] == 0


def _driver(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "hwai.cli", "sweep", *args], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _reap(proc: subprocess.Popen) -> None:
    """Whatever the killed driver left (its Ray processes share its session): ours, by group id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_kill_9_then_resume_repeats_no_finished_trial(tmp_path: Path, jets_npz: Path) -> None:
    recipe, sweep = tiny_recipe(tmp_path, jets_npz, 6), tmp_path / "sw"
    first = _driver([str(recipe), "--out", str(sweep)], tmp_path / "first.log")
    try:
        deadline = time.time() + 300
        while time.time() < deadline and len(ledgers(sweep)) < 2:
            time.sleep(1)
        time.sleep(3)  # past one experiment checkpoint (TUNE_GLOBAL_CHECKPOINT_S=2)
        assert len(ledgers(sweep)) >= 2, (tmp_path / "first.log").read_text()[-2000:]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        _reap(first)
    before = _finished(sweep)
    assert len(before) < 6 and not (sweep / "sweep.json").exists()
    _resume_keeps(recipe, sweep, before, tmp_path)
    assert json.loads((sweep / "sweep.json").read_text())["trials"] == 6


@pytest.mark.slow
def test_two_node_cluster_runs_trials_on_both(tmp_path: Path, jets_npz: Path) -> None:
    from ray.cluster_utils import Cluster

    from hwai.sweep.driver import run_sweep

    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        sweep = run_sweep(tiny_recipe(tmp_path, jets_npz, 4), tmp_path / "sw", address=cluster.address)
    finally:
        cluster.shutdown()
    nodes = {r.get("node") for r in ledgers(sweep).values() if r.get("finished")}
    assert len(nodes - {None}) == 2, nodes


def asha_recipe(tmp_path: Path, data: Path) -> Path:
    """Train only; the learning rate decides: some trials cannot learn in a few epochs."""
    doc = {
        "name": "asha_sweep", "seed": 10,   # TPE's seeded start: learning rates 7e-3, 1.3e-6, 1.5e-3
        "model": {"framework": "keras", "arch": "jet_mlp", "hidden": [8]},
        "data": {"source": str(data), "max_rows": 3000},
        "budget": {"lut": 60000, "dsp": 100},
        "steps": [{"train": {"epochs": 2, "batch_size": 64, "patience": 0}}, "lower", "estimate", "budget"],
        "search": {"trials": 2, "max_concurrent": 1,   # one at a time: ASHA sees the trials in seed order
                   "space": {"steps.train.learning_rate": {"loguniform": [1e-6, 0.1]}},
                   "scheduler": {"grace_period": 1, "reduction_factor": 2}},
    }
    path = tmp_path / "asha.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_asha_stops_a_trial_mid_training_json_set_and_resume_refuses_other_set(
        tmp_path: Path, jets_npz: Path, capsys) -> None:
    """Per-epoch reports let ASHA stop a trial inside its train step; --set reaches the sweep
    (search.trials, steps.train.epochs) and is recorded; --json is one document on stdout."""
    from hwai.cli import main

    recipe, sweep = asha_recipe(tmp_path, jets_npz), tmp_path / "sw"
    sets = ["--set", "steps.train.epochs=4", "--set", "search.trials=3"]
    assert main(["--json", "sweep", str(recipe), "--out", str(sweep), *sets]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)  # the whole of stdout: one JSON document
    assert doc["ok"] and doc["sweep_dir"] == str(sweep) and doc["sweep"]["trials"] == 3
    assert "[hwai] trial 3/3" in err  # human lines on stderr under --json
    marker = json.loads((sweep / ".hwai-sweep.json").read_text())
    assert marker["overrides"]["search"] == {"trials": 3}
    stopped = [r for r in ledgers(sweep).values() if r.get("stopped_early")]
    assert stopped, ledgers(sweep)
    assert all(r["step"] == "train" and r["epochs"] == 4 and r["epoch"] < 4 for r in stopped), stopped
    assert "stopped by ASHA in train epoch" in err
    code = main(["sweep", str(recipe), "--out", str(sweep), "--resume", "--set", "steps.train.epochs=5",
                 "--set", "search.trials=3"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "--set differs from the sweep's (steps.train.epochs 4 -> 5)" in err


def _interrupt_after_first_trial(recipe: Path, sweep: Path, log: Path) -> tuple[int, str]:
    """Start the CLI driver (--quiet), press Ctrl-C (SIGINT to its process group, as a terminal
    does) once the first trial has finished; its exit code and what it printed."""
    proc = _driver([str(recipe), "--out", str(sweep), "--quiet"], log)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not ledgers(sweep) and proc.poll() is None:
            time.sleep(0.5)
        assert ledgers(sweep), log.read_text()[-2000:]
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(120)
    finally:
        _reap(proc)
    return code, log.read_text()


def test_ctrl_c_exits_130_with_the_resume_command(tmp_path: Path, jets_npz: Path) -> None:
    recipe, sweep = tiny_recipe(tmp_path, jets_npz, 6), tmp_path / "sw"
    code, out = _interrupt_after_first_trial(recipe, sweep, tmp_path / "driver.log")
    hint = f"hwai: interrupted; resume with: hwai sweep {recipe} --out {sweep} --resume"
    assert code == 130 and hint in out, out[-3000:]
    assert "[hwai] trial" not in out  # --quiet: no progress lines, the error line only
    assert not (sweep / "sweep.json").exists() and (sweep / ".hwai-sweep.json").is_file()


@pytest.mark.slow
def test_ctrl_c_then_resume_finishes_without_repeating_a_trial(tmp_path: Path, jets_npz: Path) -> None:
    recipe, sweep = tiny_recipe(tmp_path, jets_npz, 6), tmp_path / "sw"
    code, _ = _interrupt_after_first_trial(recipe, sweep, tmp_path / "first.log")
    assert code == 130
    _resume_keeps(recipe, sweep, _finished(sweep), tmp_path)


def _finished(sweep: Path) -> dict[str, int]:
    """Each finished trial's ledger and when it was written."""
    return {t: (sweep / "trials" / t / "trial.json").stat().st_mtime_ns for t in ledgers(sweep)}


def _resume_keeps(recipe: Path, sweep: Path, before: dict[str, int], tmp_path: Path) -> None:
    """``--resume`` runs the sweep to its 6 trials without running a finished one again."""
    second = _driver([str(recipe), "--out", str(sweep), "--resume"], tmp_path / "second.log")
    try:
        assert second.wait(600) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        _reap(second)
    after = ledgers(sweep)
    assert len(after) == 6, sorted(after)
    for t, mtime in before.items():  # finished trials kept, not run again
        assert (sweep / "trials" / t / "trial.json").stat().st_mtime_ns == mtime
