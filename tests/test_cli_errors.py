"""Exit codes, one-line errors instead of tracebacks, --debug, Ctrl-C (subprocess + SIGINT)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from hwai import cli
from hwai.errors import BudgetError, DataError, MismatchError, MissingToolError, RecipeError
from tests.cli_fixtures import hwai, tiny_recipe


def _boom(args) -> int:
    raise ValueError("shape (3,) vs (4,)\nsecond line")


def test_unexpected_exception_is_one_line_exit_1(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(cli, "cmd_report", _boom)
    assert cli.main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == ("hwai: internal error: ValueError: shape (3,) vs (4,) "
                   "(rerun with --debug for the traceback)\n")


def test_debug_shows_the_traceback(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(cli, "cmd_report", _boom)
    assert cli.main(["report", str(tmp_path), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_boom" in err


@pytest.mark.parametrize("error, code", [(RecipeError, 2), (DataError, 2), (MissingToolError, 3),
                                         (BudgetError, 4), (MismatchError, 5)])
def test_hwai_errors_keep_their_documented_code(monkeypatch, tmp_path: Path, capsys, error, code) -> None:
    def fail(args) -> int:
        raise error("r.yaml: what to do")

    monkeypatch.setattr(cli, "cmd_report", fail)
    assert cli.main(["report", str(tmp_path)]) == code
    assert capsys.readouterr().err == "hwai: r.yaml: what to do\n"


def test_control_characters_in_a_message_are_escaped(monkeypatch, tmp_path: Path, capsys) -> None:
    def fail(args) -> int:
        raise RecipeError("r.yaml: model.arch '\r' is unknown")

    monkeypatch.setattr(cli, "cmd_report", fail)
    assert cli.main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "hwai: r.yaml: model.arch '\\r' is unknown\n"


def test_no_command_prints_help_exit_2(capsys) -> None:
    assert cli.main([]) == 2
    assert "usage: hwai" in capsys.readouterr().err


def test_a_subprocess_run_is_quiet_and_has_no_traceback(tmp_path: Path) -> None:
    """TensorFlow/absl/keras start-up notices and warnings stay off stderr; JSON alone on stdout."""
    recipe = tiny_recipe(tmp_path, steps=[{"train": {"epochs": 1}}, "lower"])
    proc = hwai("--json", "compress", str(recipe), "--out", str(tmp_path / "run"))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"]["status"] == "complete"
    for noise in ("oneDNN", "Warning", "WARNING", "absl", "Traceback", "cpu_feature_guard"):
        assert noise not in err, err


def test_a_broken_model_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A truncated .h5 ends in one line, exit 2."""
    bad = tmp_path / "m.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    recipe = tiny_recipe(tmp_path, model={"path": str(bad)})
    proc = hwai("compress", str(recipe), "--out", str(tmp_path / "run"))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("hwai: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# --- Ctrl-C ------------------------------------------------------------------------------


def _interrupt(proc, wait_for: Path | None, delay: float) -> tuple[str, str]:
    t0 = time.monotonic()
    while wait_for is not None and not wait_for.exists() and time.monotonic() - t0 < 240:
        time.sleep(0.2)
    time.sleep(delay)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=120)


def test_ctrl_c_during_startup_exits_130(tmp_path: Path) -> None:
    """SIGINT while Python/TensorFlow start: 130, one line, nothing written."""
    recipe = tiny_recipe(tmp_path)
    proc = hwai("compress", str(recipe), "--out", str(tmp_path / "run"))
    out, err = _interrupt(proc, None, 1.5)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"hwai: interrupted; nothing was written; rerun: "
                                            f"hwai compress {recipe} --out {tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_during_a_step_names_the_resume_command(tmp_path: Path) -> None:
    """SIGINT in the second step (training): 130 and ``--from train`` with the same --set flags."""
    recipe = tiny_recipe(tmp_path, steps=["evaluate", {"train": {"epochs": 100000, "patience": 100000}},
                                          "lower"])
    out_dir = tmp_path / "run"
    proc = hwai("compress", str(recipe), "--out", str(out_dir), "--set", "data.max_rows=200")
    _, err = _interrupt(proc, out_dir / "steps" / "01_evaluate" / "report.json", 1.0)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"hwai: interrupted; resume with: hwai compress {recipe} "
                                            f"--out {out_dir} --set data.max_rows=200 --from train")
    assert (out_dir / "status.json").is_file()


def test_resume_hint_uses_the_step_number_for_repeated_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "steps" / "01_train").mkdir(parents=True)
    (run / "steps" / "01_train" / "report.json").write_text("{}")
    (run / "status.json").write_text('{"status": "failed"}')
    args = cli.build_parser().parse_args(["compress", "r.yaml", "--data", "d.npz"])
    args.run_dir, args.step_folders = run, [("train", "01_train"), ("train", "02_train"), ("lower", "03_lower")]
    assert cli.resume_hint(args) == f"resume with: hwai compress r.yaml --data d.npz --out {run} --from 2"
