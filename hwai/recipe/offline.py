"""Commands that act on a finished run folder: ``hwai emit|csim|synth|rtl|verify RUN_DIR``.

They hold the run's lock while they write; csim/rtl/synth results are merged into
report.json/report.md and a failed re-check turns status.json to ``failed``.

They reload the run's own recipe copy, the IR checkpoint and the test vectors, so
a firmware engineer can re-emit or re-check without re-training anything.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from hwai.codegen import emitters
from hwai.codegen.emitters import CSIM_BACKENDS, PROJECT_DIRS
from hwai.errors import HwaiError, MismatchError, MissingToolError, RunFolderError
from hwai.ir.graph import Graph
from hwai.recipe import record, rundir
from hwai.recipe.schema import IR_PRODUCERS, load_recipe
from hwai.report.writer import merge_check
from hwai.sim import checks, verify
from hwai.sim.vectors import make_vectors
from hwai.synth.flow import synth_graph
from hwai.target import Target


@contextmanager
def locked_run(run_dir: Path) -> Iterator[None]:
    """An hwai run folder (marker checked), held against a concurrent writer."""
    record.ensure_run(run_dir)
    rundir.acquire_lock(run_dir)
    try:
        yield
    finally:
        rundir.release_lock(run_dir)


def ir_checkpoint(run_dir: Path) -> Path | None:
    """The IR checkpoint of the run's last lower/symbolic step (model steps save frameworks' files)."""
    ckpts = sorted(p.parent for pattern in (f"*_{name}" for name in IR_PRODUCERS)
                   for p in (run_dir / "steps").glob(f"{pattern}/checkpoint/graph.json"))
    return ckpts[-1] if ckpts else None


def load_run(run_dir: Path) -> tuple[Graph, Target, np.ndarray, int]:
    """(IR graph, target, test vectors, seed) of a run folder."""
    record.ensure_run(run_dir)
    if not (run_dir / "recipe.yaml").is_file():
        raise RunFolderError(f"{run_dir}: no recipe.yaml in this run; run hwai compress again")
    recipe = load_recipe(run_dir / "recipe.yaml")
    ckpt = ir_checkpoint(run_dir)
    if ckpt is None:
        raise RunFolderError(f"{run_dir}: no IR checkpoint; the run must include a lower (or symbolic) step")
    graph = Graph.load(ckpt)
    vec = run_dir / "vectors" / "inputs.npy"
    if vec.is_file():
        vectors = np.load(vec)
    else:
        vectors = make_vectors(graph, 10000, recipe.seed)
    return graph, Target(**recipe.target), vectors, recipe.seed


def emit_run(run_dir: Path, backend: str, ignore_budget: bool = False) -> list[Path]:
    """Re-emit; a run that failed its budget is emitted only with an explicit --ignore-budget."""
    graph, target, vectors, _ = load_run(run_dir)
    with locked_run(run_dir):
        ignored = record.check_budget_gate(run_dir, ignore_budget, "emitting")
        info = emitters.emit(backend, graph, target, run_dir, vectors)
        if ignored:
            record.mark_budget_ignored(run_dir)
            _merge(run_dir, "emit", {"backend": backend, "budget_ignored": True,
                                     "summary": f"{backend} emitted although the budget failed (--ignore-budget)"}, None)
    return [run_dir / info["dir"]]


def _merge(run_dir: Path, kind: str, result: dict, error: str | None) -> None:
    merge_check(run_dir, kind, result, error)


def _checked(run_dir: Path, kind: str, fn: Callable[[], dict]) -> dict:
    """Run a re-check; its result (or its error) goes into the run's reports and status."""
    try:
        res = fn()
    except MissingToolError:
        raise  # the tool, not the design: nothing learnt about the run
    except HwaiError as err:
        _merge(run_dir, kind, {"error": str(err)}, str(err))
        raise
    bad = int(res.get("mismatches") or 0)
    _merge(run_dir, kind, res, f"{kind}: {res.get('summary')}" if bad else None)
    return res


def csim_run(run_dir: Path, backends: list[str] | None) -> dict:
    graph, _, vectors, _ = load_run(run_dir)
    backends = backends or [b for b in CSIM_BACKENDS if (run_dir / PROJECT_DIRS[b]).is_dir()]
    if not backends:
        raise RunFolderError(f"{run_dir}: no emitted HLS project; run hwai emit {run_dir} --backend native first")
    results: dict = {}

    def run() -> dict:
        results.update({b: checks.csim(b, graph, run_dir, vectors, log=print) for b in backends})
        summary = "; ".join(f"{b}: {r['summary']}" for b, r in results.items())
        return {"vectors": int(len(vectors)), "mismatches": int(sum(r["mismatches"] for r in results.values())),
                "per_backend": {b: r["mismatches"] for b, r in results.items()}, "summary": summary}

    with locked_run(run_dir):
        _checked(run_dir, "csim", run)
    (run_dir / "csim.json").write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return results


def synth_run(run_dir: Path, cfg: dict) -> dict:
    graph, target, _, _ = load_run(run_dir)
    with locked_run(run_dir):
        res = _checked(run_dir, "synth", lambda: synth_graph(graph, run_dir / "synth", target, cfg,
                                                              estimate=None, log=print))
    (run_dir / "synth.json").write_text(json.dumps(res, indent=1, sort_keys=True, default=str) + "\n")
    return res


def rtl_run(run_dir: Path, n_vectors: int = 1000, simulator: str = "verilator") -> dict:
    """Re-simulate the run's Verilog (emitted if missing) against the golden model."""
    graph, target, _, seed = load_run(run_dir)
    with locked_run(run_dir):
        return _checked(run_dir, "rtl", lambda: checks.rtl(graph, run_dir, target, n_vectors, seed,
                                                            simulator, log=print))


def verify_run(run_dir: Path, events: int, backends: list[str] | None = None,
               chunk: int = verify.DEFAULT_CHUNK, progress: bool = True) -> dict:
    """``hwai verify RUN``: the run's IR on ``events`` inputs in every backend; writes
    ``verify.json`` there; MismatchError (exit 5) on any mismatch."""
    graph, target, vectors, seed = load_run(run_dir)
    backends = backends or verify.default_backends(graph, target)
    result = verify.verify_graph(graph, events, backends, target, chunk, seed, vectors, run_dir, progress)
    (run_dir / "verify.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    for line in result["lines"]:
        print(line)
    failed = [b for b, t in result["backends"].items() if t["mismatches"]]
    if failed:
        raise MismatchError(f"verify {run_dir}: mismatches in {', '.join(failed)} "
                            f"(details in {run_dir / 'verify.json'})")
    return result
