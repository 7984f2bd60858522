"""What is simulated is what is handed off (issue 10, finding: an edited literal in
native/firmware/layers/*.h still gave "0/500 differ (bit-exact)")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hwai.codegen import emitters
from hwai.sim import checks
from hwai.sim.handoff import table_differences
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.ir.helpers import mlp_graph


def _native(tmp_path: Path, graph=None) -> Path:
    graph = graph or mlp_graph((8, 12, 6, 4), seed=5, sparsity=0.3)
    emitters.emit("native", graph, Target(), tmp_path, make_vectors(graph, 50, 0))
    return tmp_path / "native"


def _edit_first(path: Path, pattern: str, repl) -> None:
    """Edit the first match of ``pattern`` inside the literal (#ifndef HWAI_CSIM_CODES) block."""
    text = path.read_text()
    start = text.index("#ifndef HWAI_CSIM_CODES")
    head, tail = text[:start], text[start:]
    path.write_text(head + re.sub(pattern, repl, tail, count=1))


def _dense_header(project: Path) -> Path:
    return sorted((project / "firmware" / "layers").glob("dense_*.h"))[0]


def test_emitted_native_tables_are_equal_in_both_forms(tmp_path: Path) -> None:
    assert table_differences(_native(tmp_path)) == []


def test_expr_tables_are_equal_in_both_forms(tmp_path: Path) -> None:
    from tests.ir.test_expr import _graph

    project = _native(tmp_path, _graph(size=256))
    assert any("_codes[" in p.read_text() for p in (project / "firmware" / "layers").glob("*.h"))
    assert table_differences(project) == []


def test_an_edited_literal_is_a_difference(tmp_path: Path) -> None:
    project = _native(tmp_path)
    _edit_first(_dense_header(project), r"\{ (-?\d+\.\d+)", lambda m: "{ " + str(float(m.group(1)) + 0.5))
    diffs = table_differences(project)
    assert len(diffs) == 1 and re.match(r"firmware/layers/dense_fc1\.h: dense_fc1_w\[0\] is \S+ in the "
                                        r"handed-off table but code -?\d+ \(= \S+\) in C simulation", diffs[0])


@pytest.mark.parametrize("pattern, repl, what", [(r"\{ (-?\d+\.\d+)", r"{ (\1 + 0.0)", "is ("),
                                                 (r"static const \w+ ", "static const ap_fixed<18,8> ", "declared"),
                                                 (r"\{ (-?\d+\.\d+)", r"{ 99.0", "is 99.0")])
def test_unreadable_or_retyped_tables_fail_closed(tmp_path: Path, pattern, repl, what) -> None:
    project = _native(tmp_path)
    _edit_first(_dense_header(project), pattern, repl)
    diffs = table_differences(project)
    assert diffs and what in diffs[0]


@pytest.mark.csim
def test_csim_of_an_edited_header_is_a_mismatch(tmp_path: Path) -> None:
    graph = mlp_graph((8, 12, 6, 4), seed=5, sparsity=0.3)
    x = make_vectors(graph, 500, 0)
    emitters.emit("native", graph, Target(), tmp_path, x)
    assert checks.csim("native", graph, tmp_path, x, log=lambda s: None)["mismatches"] == 0
    _edit_first(_dense_header(tmp_path / "native"), r"\{ (-?\d+\.\d+)", lambda m: "{ " + str(float(m.group(1)) + 0.5))
    res = checks.csim("native", graph, tmp_path, x, log=lambda s: None)
    assert res["mismatches"] == 1 and "handed-off sources differ from what C simulation compiles" in res["summary"]


@pytest.mark.csim
def test_standalone_csim_failure_reaches_status_and_reports(tmp_path: Path, monkeypatch, capsys) -> None:
    """Repro: a failing hwai csim RUN (exit 5) left report.md at 0 and status complete."""
    from hwai.cli import main
    from hwai.recipe import runner
    from hwai.recipe.schema import load_recipe
    from tests.recipe.test_rundir import DOC, _write_recipe
    from tests.recipe.test_runner import FakeEngine, _data

    monkeypatch.setattr("hwai.recipe.steps.make_engine", lambda fw: FakeEngine())
    monkeypatch.setattr("hwai.data.load_dataset", lambda cfg, seed, override_path=None: _data())
    run = tmp_path / "run"
    doc = {"steps": DOC["steps"] + [{"csim": {"vectors": 300}}]}
    runner.run_recipe(load_recipe(_write_recipe(tmp_path, **doc)), run, log=lambda s: None)
    assert json.loads((run / "report.json").read_text())["csim"]["mismatches"] == 0
    header = _dense_header(run / "native")
    good = header.read_text()
    _edit_first(header, r"\{ (-?\d+\.\d+)", lambda m: "{ " + str(float(m.group(1)) + 0.5))

    assert main(["csim", str(run), "--backend", "native"]) == 5
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["failed_check"] == "csim"
    assert "handed-off sources differ" in status["error"]
    head = json.loads((run / "report.json").read_text())
    assert head["csim"]["mismatches"] == 1 and head["rechecks"] == {"csim": "failed"}
    md = (run / "report.md").read_text()
    assert "| C-sim mismatches (300 vectors) | native: 1 |" in md and "**FAILED**" in md

    header.write_text(good)  # fixed: a passing re-check restores the status
    assert main(["csim", str(run), "--backend", "native"]) == 0
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    md = (run / "report.md").read_text()
    assert "native: 0 |" in md and "**FAILED**" not in md and md.count("## Re-check: hwai csim") == 1
