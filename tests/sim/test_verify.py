"""``hwai verify``: events streamed through every backend, mismatches named, exit codes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwai.cli import main
from hwai.estimate.designs import mlp_graph
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.sim import verify

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.csim


@pytest.fixture(scope="module", autouse=True)
def ap_types() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")


def jet_design() -> Graph:
    return mlp_graph((16, 64, 32, 32, 5), x_bits=16, w_bits=6, sparsity=0.7, seed=3, name="jet")


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A minimal run folder: hwai's marker, the recipe copy and an IR checkpoint (what load_run reads)."""
    from hwai.recipe.rundir import write_marker

    run = tmp_path / "run"
    (run / "steps" / "05_lower").mkdir(parents=True)
    write_marker(run)
    shutil.copy(REPO / "recipes" / "jet_tagging.yaml", run / "recipe.yaml")
    jet_design().save(run / "steps" / "05_lower" / "checkpoint")
    return run


def test_cli_verify_streams_chunks_and_writes_verify_json(run_dir: Path, capsys) -> None:
    rc = main(["verify", str(run_dir), "--events", "20000", "--chunk", "7000",
               "--backends", "golden,fast,apfixed"])
    assert rc == 0
    res = json.loads((run_dir / "verify.json").read_text())
    assert res["events"] == 20000 and res["chunk"] == 7000
    for b in ("golden", "fast", "apfixed"):
        assert res["backends"][b]["events"] == 20000 and res["backends"][b]["mismatches"] == 0
    assert "fast: 0/20000 events differ (bit-exact)" in capsys.readouterr().out


def test_unknown_backend_is_a_usage_error(run_dir: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(run_dir), "--backends", "golden,vivado"])
    assert exc.value.code == 2
    assert "unknown backend(s) vivado; choose from golden,fast,apfixed,rtl" in capsys.readouterr().err


def test_not_a_run_folder(tmp_path: Path, capsys) -> None:
    assert main(["verify", str(tmp_path), "--events", "10"]) == 2
    assert "not an hwai run folder" in capsys.readouterr().err


def test_mismatch_exits_5_and_names_the_first_diverging_layer(run_dir: Path, monkeypatch, capsys) -> None:
    """A reference that evaluates a graph with one changed weight in dense1: the golden
    backend must report the mismatches and h1 (dense1's output) as the first layer."""
    original = interp.run_reference

    def broken(graph, inputs, trace=False):
        node = graph.node("dense1")
        w = np.array(node.attrs["weight"])
        w[0, 0] += 7
        bad = graph.with_node(dataclasses.replace(node, attrs={**node.attrs, "weight": w}))
        return original(bad, inputs, trace)

    monkeypatch.setattr(interp, "run_reference", broken)
    rc = main(["verify", str(run_dir), "--events", "3000", "--backends", "golden,fast"])
    assert rc == 5
    err = capsys.readouterr()
    assert "mismatches in golden" in err.err and "fast" not in err.err.split("mismatches in")[1].split("(")[0]
    res = json.loads((run_dir / "verify.json").read_text())
    g = res["backends"]["golden"]
    assert g["mismatches"] > 0 and g["first_layer"] == "h1" and g["first_index"] is not None
    assert "first diverging layer h1" in err.out


def test_fast_backend_trace_names_a_layer(monkeypatch) -> None:
    """A wrong fast C-sim output is traced through the integer flavour's hwai_trace."""
    g = jet_design()
    monkeypatch.setattr(verify, "_TRACERS", {**verify._TRACERS,
                                             "fast": lambda graph, row: _bump(verify._fast_trace(graph, row))})
    real_runner = verify._runner

    def runner(name, graph, target, run_dir):
        fn = real_runner(name, graph, target, run_dir)
        return (lambda x: fn(x) + (np.arange(len(x))[:, None] == 3)) if name == "fast" else fn
    monkeypatch.setattr(verify, "_runner", runner)
    res = verify.verify_graph(g, 500, ["fast"], progress=False)
    t = res["backends"]["fast"]
    assert t["mismatches"] == 1 and t["first_index"] == 3 and t["first_layer"] == "a1"


def _bump(trace: dict) -> dict:
    trace = dict(trace)
    trace["a1"] = trace["a1"] + 1
    return trace


def test_fast_trace_equals_golden_trace() -> None:
    from hwai.sim.fast_csim import trace_fast

    g = jet_design()
    x = verify.event_chunk(g, 0, 50, 0, None)
    gold = interp.run(g, x[7:8], trace=True)
    for name, codes in trace_fast(g, x[7:8]).items():
        np.testing.assert_array_equal(codes, gold[name], err_msg=name)


@pytest.mark.slow
def test_one_million_events_on_the_jet_design() -> None:
    res = verify.verify_graph(jet_design(), 1_000_000, ["golden", "fast", "apfixed"], progress=False)
    for b, t in res["backends"].items():
        assert t["events"] == 1_000_000 and t["mismatches"] == 0, (b, t)


@pytest.mark.rtl
def test_rtl_backend_small(tmp_path: Path) -> None:
    if not shutil.which("verilator"):
        pytest.skip("verilator not installed")
    g = mlp_graph((6, 5, 3), x_bits=8, w_bits=4, sparsity=0.3, seed=1, name="tiny")
    res = verify.verify_graph(g, 2000, ["fast", "rtl"], progress=False)
    assert res["backends"]["rtl"]["events"] == 2000 and res["backends"]["rtl"]["mismatches"] == 0


def test_default_backends_skip_fast_for_a_design_it_cannot_hold(capsys) -> None:
    from hwai.target import Target
    from tests.ir.helpers import mlp_graph as helper_mlp
    from hwai.ir.types import FixedType

    wide = helper_mlp((4, 3, 2), seed=1, wbits=24, input_type=FixedType(40, 10))
    assert "fast" not in verify.default_backends(wide, Target())
    assert "skipping fast (node 'fc1'" in capsys.readouterr().err
    assert "fast" in verify.default_backends(jet_design(), Target())
