"""Fast C simulation: the integer flavour of the native core, compiled once, via ctypes.

:func:`load_fast` builds ``tb/<p>_int.cpp`` from :mod:`hwai.codegen.native_int` into a
shared library (cached by content, like the ap_fixed C-sim) with the same batch entry
point, so :class:`hwai.sim.native_csim.NativeModel` runs it.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hwai.codegen.native import flat_inputs
from hwai.codegen.native_int import generate_int, trace_layout
from hwai.ir.graph import Graph
from hwai.sim import gcc
from hwai.sim.native_csim import NativeModel
from hwai.target import Target

# Plain integers inline and unroll well at -O3 (no -march=native: the cache may be
# shared between hosts). No ap_types headers, so no precompiled header.
FAST_FLAGS: tuple[str, ...] = ("-O3", "-std=c++17", "-fPIC", "-fvisibility=hidden",
                               "-fno-semantic-interposition", "-pthread")

_LOADED: dict[Path, NativeModel] = {}


def load_fast(graph: Graph, target: Target | None = None,
              cache_dir: str | Path | None = None) -> NativeModel:
    """Compile (or fetch from the cache) and load the integer flavour of ``graph``."""
    target = target or Target()
    files = generate_int(graph, target)
    src = f"tb/{target.project_name}_int.cpp"
    path = gcc.build_cached(files, [src], "libcsim_int.so", shared=True, cache_dir=cache_dir,
                            flags=FAST_FLAGS, use_pch=False)
    if path not in _LOADED:
        _LOADED[path] = NativeModel(path)
    return _LOADED[path]


def csim_fast(graph: Graph, x_codes: np.ndarray | dict[str, np.ndarray], threads: int = 0,
              cache_dir: str | Path | None = None) -> np.ndarray:
    """Output codes (n, n_out), graph outputs concatenated, of the integer flavour."""
    return load_fast(graph, cache_dir=cache_dir).predict(flat_inputs(graph, x_codes), threads=threads)


def trace_fast(graph: Graph, row: np.ndarray, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every node output's codes for one input row (shape (1, size) each), as computed
    by the integer flavour: what :func:`hwai.sim.compare.compare` needs to name a layer."""
    lib = load_fast(graph, cache_dir=cache_dir)._lib
    x = np.ascontiguousarray(flat_inputs(graph, row)[:1], dtype=np.int64)
    out = np.empty(int(lib.hwai_n_trace_codes()), dtype=np.int64)
    lib.hwai_trace.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.hwai_trace.restype = None
    lib.hwai_trace(x.ctypes.data, out.ctypes.data)
    return {name: out[None, off:off + size] for name, off, size in trace_layout(graph)}
