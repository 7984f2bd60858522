"""hwai's own HLS C++ generator: IR graph -> an in-memory project (:class:`FileSet`).

Layout of the generated project (``<p>`` = ``target.project_name``)::

    firmware/<p>.cpp, <p>.h       top function (ap_vld ports, complete partitioning, PIPELINE)
    firmware/defines.h            one typedef per IR tensor / accumulator
    firmware/parameters.h         includes firmware/layers/<fn>.h (tables + layer function)
    tb/<p>_test.cpp               testbench over tb_data/*.dat (integer codes, exact compare)
    tb/<p>_bridge.cpp             batch entry point for hwai's ctypes C simulation
    tb/hwai_codes.h               code <-> ap_fixed bit moves
    tb_data/inputs.dat, golden.dat  vectors and the golden interpreter's outputs
    build_vitis.tcl, build_vivado.tcl, Makefile, README.md

Generation never writes to disk; :meth:`FileSet.write` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.codegen import templates
from hwai.codegen.context import build_context
from hwai.codegen.fileset import FileSet
from hwai.errors import HwaiError
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.target import Target

_DIR = "native"


def generate(graph: Graph, target: Target, vectors: np.ndarray | None = None) -> FileSet:
    """Render the whole project; ``vectors`` are input codes (default: :func:`default_vectors`)."""
    from hwai.codegen import preprocess

    ctx = {**build_context(graph, target), **preprocess.readme_context(graph)}
    files: dict[str, bytes | str] = {}
    files.update(_firmware(ctx))
    files.update(_testbench(ctx))
    files.update(_project_files(ctx))
    files.update(preprocess.project_files(graph))   # hwai_preprocess.h: physical features -> input codes
    codes = default_vectors(graph) if vectors is None else vectors
    files.update(vector_files(graph, codes))
    return FileSet(files)


def _firmware(ctx: dict[str, Any]) -> dict[str, str]:
    p = ctx["project"]
    out = {
        f"firmware/{p}.h": templates.render(f"{_DIR}/project.h.j2", **ctx),
        f"firmware/{p}.cpp": templates.render(f"{_DIR}/project.cpp.j2", **ctx),
        "firmware/defines.h": templates.render(f"{_DIR}/defines.h.j2", **ctx),
        "firmware/parameters.h": templates.render(f"{_DIR}/parameters.h.j2", **ctx),
    }
    for layer in ctx["layers"]:
        out[f"firmware/{layer['header']}"] = render_layer(layer, p)
    return out


def render_layer(layer: dict[str, Any], project: str) -> str:
    """One per-layer header: the op template's body inside a guard with the typedefs."""
    body = templates.render(layer["template"], **layer["ctx"])
    return templates.render(f"{_DIR}/layer.h.j2", body=body, project=project, **layer)


def _testbench(ctx: dict[str, Any]) -> dict[str, str | bytes]:
    p = ctx["project"]
    return {
        f"tb/{p}_test.cpp": templates.render(f"{_DIR}/tb/test.cpp.j2", **ctx),
        f"tb/{p}_bridge.cpp": templates.render(f"{_DIR}/tb/bridge.cpp.j2", **ctx),
        "tb/hwai_codes.h": templates.static_file(f"{_DIR}/static/hwai_codes.h"),
    }


def _project_files(ctx: dict[str, Any]) -> dict[str, str]:
    return {name: templates.render(f"{_DIR}/{name}.j2", **ctx)
            for name in ("build_vitis.tcl", "build_vivado.tcl", "Makefile", "README.md")}


# --- test vectors ------------------------------------------------------------

def flat_inputs(graph: Graph, codes: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
    """Input codes as one int64 row per sample (graph inputs concatenated in order)."""
    if isinstance(codes, dict):
        parts = [np.asarray(codes[n]).reshape(len(codes[n]), -1) for n in graph.inputs]
        return np.concatenate(parts, axis=1).astype(np.int64)
    arr = np.asarray(codes)
    if not np.issubdtype(arr.dtype, np.integer):
        raise HwaiError(f"test vectors must be integer codes, got dtype {arr.dtype}")
    return arr.reshape(len(arr), -1).astype(np.int64)


def split_inputs(graph: Graph, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of :func:`flat_inputs` (checks the column count)."""
    sizes = [graph.tensor(n).size for n in graph.inputs]
    if flat.shape[1] != sum(sizes):
        raise HwaiError(f"graph {graph.name!r} takes {sum(sizes)} input codes per sample, "
                        f"got {flat.shape[1]}")
    bounds = np.cumsum([0] + sizes)
    return {n: flat[:, a:b] for n, a, b in zip(graph.inputs, bounds[:-1], bounds[1:])}


def golden_outputs(graph: Graph, flat: np.ndarray) -> np.ndarray:
    """The golden interpreter's output codes, graph outputs concatenated per sample."""
    env = interp.run(graph, split_inputs(graph, flat))
    return np.concatenate([np.asarray(env[o]).reshape(len(flat), -1) for o in graph.outputs],
                          axis=1).astype(np.int64)


def vector_files(graph: Graph, codes: np.ndarray | dict[str, np.ndarray]) -> dict[str, str]:
    """``tb_data/inputs.dat`` and ``golden.dat``: one sample per line, integer codes."""
    flat = flat_inputs(graph, codes)
    return {"tb_data/inputs.dat": _rows(flat), "tb_data/golden.dat": _rows(golden_outputs(graph, flat))}


def _rows(a: np.ndarray) -> str:
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in a)


def default_vectors(graph: Graph, n: int = 256, seed: int = 0) -> np.ndarray:
    """Deterministic stimulus: all-min, all-max, zeros, alternating extremes, then random."""
    rng = np.random.default_rng(seed)
    cols = []
    for name in graph.inputs:
        t = graph.tensor(name)
        ft = t.type
        assert ft is not None  # build_context has validated the graph
        fixed = np.array([[ft.qmin] * t.size, [ft.qmax] * t.size, [0] * t.size,
                          [ft.qmin if i % 2 else ft.qmax for i in range(t.size)]], dtype=np.int64)
        rand = rng.integers(ft.qmin, ft.qmax, size=(max(n - 4, 0), t.size), endpoint=True)
        cols.append(np.concatenate([fixed, rand])[:n])
    return np.concatenate(cols, axis=1)
