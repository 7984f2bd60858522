"""Progress while C-sim builds, RTL simulation and Yosys synthesis run (hwai.progress)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hwai import progress as prog_mod
from hwai.progress import progress, set_quiet


@pytest.fixture(autouse=True)
def _fast_heartbeat(monkeypatch):
    monkeypatch.setattr(prog_mod, "LOG_EVERY_S", 0.05)
    set_quiet(False)
    yield
    set_quiet(False)


def test_heartbeat_in_logs_names_the_work_and_elapsed_time(capsys) -> None:
    with progress("yosys synth_xilinx (3 parts)", total=3) as p:
        time.sleep(0.2)
        p.update()
        time.sleep(0.2)
    err = capsys.readouterr().err
    assert "[hwai]   yosys synth_xilinx (3 parts): 0/3 done, running for 0 s" in err
    assert "1/3 done" in err


def test_quiet_silences_progress(capsys) -> None:
    set_quiet(True)
    with progress("g++ building x.so"):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_only_the_innermost_progress_speaks(capsys) -> None:
    """While the inner step runs, only it speaks (read before it ends: once it has ended,
    the outer step is the innermost again and may rightly print its own heartbeat)."""
    with progress("C-sim", total=2), progress("g++ building a.so"):
        time.sleep(0.3)
        lines = capsys.readouterr().err.splitlines()
    inner = [i for i, line in enumerate(lines) if "g++ building a.so" in line]
    assert inner, lines
    # a loaded machine may let the outer tick once before the inner one was pushed
    assert all("g++ building a.so" in line for line in lines[inner[0]:]), lines


def test_terminal_gets_a_tqdm_bar_when_the_count_is_known(monkeypatch, capsys) -> None:
    monkeypatch.setattr(prog_mod, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(prog_mod, "TTY_EVERY_S", 0.05)
    with progress("C-sim", total=2) as p:
        p.update()
        time.sleep(0.15)
    err = capsys.readouterr().err
    assert "C-sim: 1/2" in err


def test_rtl_tool_runs_show_a_heartbeat(tmp_path: Path, capsys) -> None:
    from hwai.sim.rtl import _run

    _run(["sleep", "0.3"], tmp_path, tmp_path / "run.log", 10)
    assert "[hwai]   sleep (run): running for" in capsys.readouterr().err


def test_yosys_synthesis_counts_parts(monkeypatch, capsys) -> None:
    """synth_graph shows k/N parts done while the (here: faked, 0.2 s each) Yosys jobs run."""
    from hwai.estimate.designs import mlp_graph
    from hwai.synth import yosys
    from hwai.synth.parse import SynthResult

    def fake_synth(files, family, dsp, timeout):
        time.sleep(0.2)
        return SynthResult(lut=10)

    monkeypatch.setattr(yosys, "synth_fileset", fake_synth)
    monkeypatch.setattr(yosys, "yosys_command", lambda: (["yosys"], {}))
    total, parts = yosys.synth_graph(mlp_graph([4, 3, 3, 2]), jobs=1, progress=lambda m: None)
    assert total.lut == 30 and len(parts) == 3
    err = capsys.readouterr().err
    assert "yosys synth_xilinx (3 parts): 0/3 done" in err and "2/3 done" in err
