"""Bit-exactness checks of emitted designs against the golden interpreter.

Every check returns ``{"mismatches", "vectors", "summary", ...}`` and never uses a
tolerance: outputs are compared as integer codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hwai.codegen.emitters import PROJECT_DIRS
from hwai.ir.graph import Graph
from hwai.ir.registry import op_of
from hwai.target import Target


def csim(backend: str, graph: Graph, run_dir: Path, vectors: np.ndarray,
         log: Callable[[str], None] = print) -> dict:
    """Build the emitted ``backend`` project with g++, run ``vectors``, compare exactly."""
    from hwai.sim.compare import compare

    t0 = time.perf_counter()
    project = run_dir / PROJECT_DIRS[backend]
    if backend == "hls4ml" and any(op_of(n).hls4ml_symbolic for n in graph.nodes):
        return _csim_hls4ml_symbolic(graph, project, vectors, log)
    if backend == "native":
        diffs = _handoff_differences(project, len(vectors), log)
        if diffs:
            return diffs
    got, trace = _run_backend(backend, graph, project, vectors)
    rep = compare(graph, vectors, got, trace=trace)
    if rep.n_mismatches and trace is None:
        trace = _trace_backend(backend, graph, project, vectors[rep.first_index:rep.first_index + 1])
        if trace is not None:
            rep = compare(graph, vectors, got, trace=dict(trace))
    seconds = round(time.perf_counter() - t0, 2)
    log(f"[hwai]   csim {backend}: {rep.summary} ({seconds} s)")
    return {"mismatches": int(rep.n_mismatches), "vectors": int(rep.n_vectors), "summary": rep.summary,
            "first_layer": rep.first_layer, "max_abs_diff_lsb": rep.max_abs_diff_lsb, "seconds": seconds}


def _csim_hls4ml_symbolic(graph: Graph, project: Path, vectors: np.ndarray,
                          log: Callable[[str], None]) -> dict:
    """hls4ml's symbolic backend has one precision for everything and its own table
    indexing, so it is exact only for full-width polynomials; count what differs."""
    import sympy

    from hwai.codegen.hls4ml_symbolic import to_hls4ml_symbolic
    from hwai.sim.hls4ml_symbolic import agreement

    exprs = [sympy.sympify(e) for e in graph.meta["exprs"]]
    tin = graph.tensor(graph.inputs[0])
    model = to_hls4ml_symbolic(exprs, tin.type, project, n_inputs=tin.size)
    agree = agreement(model, graph, vectors)
    bad = int(round((1.0 - agree["exact_fraction"]) * agree["vectors"]))
    summary = (f"{bad}/{agree['vectors']} vectors differ from the golden model "
               f"(max |diff| {agree['max_abs_diff']:.3g}, argmax agreement {agree['argmax_agreement']:.2%})"
               + ("" if bad == 0 else "; hls4ml's symbolic backend rounds once in its single precision and "
                  "indexes tables its own way; emit with backend: native for a bit-exact design"))
    log(f"[hwai]   csim hls4ml (symbolic): {summary}")
    return {"mismatches": bad, "vectors": agree["vectors"], "summary": summary, "first_layer": None,
            "max_abs_diff_lsb": None, "agreement": agree}


def _handoff_differences(project: Path, n_vectors: int, log: Callable[[str], None]) -> dict | None:
    """Native C-sim compiles the tables' code form; prove it equals the handed-off literals."""
    from hwai.sim.handoff import table_differences

    diffs = table_differences(project)
    if not diffs:
        return None
    summary = (f"the handed-off sources differ from what C simulation compiles: {diffs[0]}"
               + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""))
    log(f"[hwai]   csim native: {summary}")
    return {"mismatches": len(diffs), "vectors": n_vectors, "summary": summary,
            "first_layer": None, "max_abs_diff_lsb": None, "handoff_differences": diffs}


def _run_backend(backend: str, graph: Graph, project: Path, vectors: np.ndarray):
    if backend == "native":
        from hwai.sim.native_csim import csim_native
        got = csim_native(graph, project, vectors)
        if isinstance(got, dict):   # several outputs: side by side in graph order
            got = np.concatenate([got[o] for o in graph.outputs], axis=1)
        return got, None
    from hwai.sim.hls4ml_csim import csim_hls4ml_project
    return csim_hls4ml_project(graph, project, vectors), None


def _trace_backend(backend: str, graph: Graph, project: Path, vectors: np.ndarray):
    if backend != "hls4ml":
        return None
    from hwai.sim.hls4ml_csim import trace_hls4ml_project
    return trace_hls4ml_project(graph, project, vectors)


def rtl(graph: Graph, run_dir: Path, target: Target, n_vectors: int, seed: int, simulator: str,
        log: Callable[[str], None] = print, timeout: float = 600.0) -> dict:
    """Emit Verilog (if needed), simulate ``n_vectors`` vectors, compare exactly."""
    from hwai.sim.compare import compare
    from hwai.sim.rtl import rtl_sim
    from hwai.sim.vectors import make_vectors

    project = run_dir / PROJECT_DIRS["verilog"]
    if not project.is_dir():
        from hwai.codegen.verilog import generate_verilog
        generate_verilog(graph, target).write(project)
    vectors = make_vectors(graph, n_vectors, seed)
    t0 = time.perf_counter()
    got = rtl_sim(graph, project, vectors, simulator=simulator, timeout=timeout)
    rep = compare(graph, vectors, got)
    seconds = round(time.perf_counter() - t0, 2)
    log(f"[hwai]   rtl {simulator}: {rep.summary} ({seconds} s)")
    return {"mismatches": int(rep.n_mismatches), "vectors": int(rep.n_vectors), "simulator": simulator,
            "summary": rep.summary, "seconds": seconds}
