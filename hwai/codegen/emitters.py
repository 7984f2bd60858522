"""One entry point per emit backend: IR graph -> project folder inside a run folder.

Each backend returns a small JSON-able record (folder, file count, digest) for the
run report; generation itself lives in the backend's module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from hwai.errors import HwaiError
from hwai.ir.graph import Graph
from hwai.target import Target

PROJECT_DIRS = {"hls4ml": "hls", "native": "native", "verilog": "verilog"}
BACKENDS = tuple(PROJECT_DIRS)           # the one list of emit backends (the recipe schema reads it)
CSIM_BACKENDS = ("hls4ml", "native")     # the backends with a C simulation


def emit(backend: str, graph: Graph, target: Target, run_dir: Path, vectors: np.ndarray) -> dict:
    try:
        fn = _BACKENDS[backend]
    except KeyError:
        raise HwaiError(f"unknown emit backend {backend!r} (choose {', '.join(_BACKENDS)})") from None
    out = run_dir / PROJECT_DIRS[backend]
    return {"dir": PROJECT_DIRS[backend], **fn(graph, target, out, vectors)}


def _native(graph: Graph, target: Target, out: Path, vectors: np.ndarray) -> dict:
    from hwai.codegen.native import generate

    files = generate(graph, target, vectors)
    files.write(out)
    return {"files": len(files), "digest": files.digest()}


def _hls4ml(graph: Graph, target: Target, out: Path, vectors: np.ndarray) -> dict:
    from hwai.codegen.hls4ml_bridge import to_hls4ml

    if graph.nodes_of("expr"):
        return _hls4ml_symbolic(graph, target, out)
    to_hls4ml(graph, out, target, vectors=vectors)
    return {"files": sum(1 for p in out.rglob("*") if p.is_file())}


def _hls4ml_symbolic(graph: Graph, target: Target, out: Path) -> dict:
    """hls4ml's own symbolic-expression backend (convert_from_symbolic_expression)."""
    import sympy

    from hwai.codegen.hls4ml_symbolic import to_hls4ml_symbolic

    exprs = [sympy.sympify(e) for e in graph.meta.get("exprs", [])]
    if not exprs:
        raise HwaiError("emit hls4ml: this expr graph carries no source expressions (graph.meta['exprs'])")
    tin = graph.tensor(graph.inputs[0])
    to_hls4ml_symbolic(exprs, tin.type, out, target, n_inputs=tin.size)
    return {"files": sum(1 for p in out.rglob("*") if p.is_file()), "symbolic": True}


def _verilog(graph: Graph, target: Target, out: Path, vectors: np.ndarray) -> dict:
    from hwai.codegen.verilog import generate_verilog

    files = generate_verilog(graph, target)
    files.write(out)
    return {"files": len(files), "digest": files.digest()}


_BACKENDS: dict[str, Callable[[Graph, Target, Path, np.ndarray], dict]] = {
    "hls4ml": _hls4ml, "native": _native, "verilog": _verilog,
}
