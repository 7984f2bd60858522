"""Commands that act on a finished run folder: ``hwai emit|csim|synth RUN_DIR``.

They reload the run's own recipe copy, the IR checkpoint and the test vectors, so
a firmware engineer can re-emit or re-check without re-training anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwai.errors import HwaiError
from hwai.ir.graph import Graph
from hwai.recipe.schema import load_recipe
from hwai.target import Target


def load_run(run_dir: Path) -> tuple[Graph, Target, np.ndarray, int]:
    """(IR graph, target, test vectors, seed) of a run folder."""
    if not (run_dir / "recipe.yaml").is_file():
        raise HwaiError(f"{run_dir}: not an hwai run folder (no recipe.yaml); run hwai compress first")
    recipe = load_recipe(run_dir / "recipe.yaml")
    ckpts = sorted(p.parent for p in (run_dir / "steps").glob("*/checkpoint/graph.json"))
    if not ckpts:
        raise HwaiError(f"{run_dir}: no IR checkpoint; the run must include a lower (or symbolic) step")
    graph = Graph.load(ckpts[-1])
    vec = run_dir / "vectors" / "inputs.npy"
    if vec.is_file():
        vectors = np.load(vec)
    else:
        from hwai.sim.vectors import make_vectors
        vectors = make_vectors(graph, 10000, recipe.seed)
    return graph, Target(**recipe.target), vectors, recipe.seed


def emit_run(run_dir: Path, backend: str) -> list[Path]:
    from hwai.codegen import emitters

    graph, target, vectors, _ = load_run(run_dir)
    info = emitters.emit(backend, graph, target, run_dir, vectors)
    return [run_dir / info["dir"]]


def csim_run(run_dir: Path, backends: list[str] | None) -> dict:
    from hwai.sim import checks

    graph, _, vectors, _ = load_run(run_dir)
    backends = backends or [b for b in ("hls4ml", "native") if (run_dir / checks.PROJECT_DIRS[b]).is_dir()]
    if not backends:
        raise HwaiError(f"{run_dir}: no emitted HLS project; run hwai emit {run_dir} --backend native first")
    results = {b: checks.csim(b, graph, run_dir, vectors, log=print) for b in backends}
    (run_dir / "csim.json").write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return results


def synth_run(run_dir: Path, cfg: dict) -> dict:
    from hwai.synth.flow import synth_graph

    graph, target, _, _ = load_run(run_dir)
    res = synth_graph(graph, run_dir / "synth", target, cfg, estimate=None, log=print)
    (run_dir / "synth.json").write_text(json.dumps(res, indent=1, sort_keys=True, default=str) + "\n")
    return res
