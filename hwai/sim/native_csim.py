"""C simulation of hwai's native HLS C++ project.

Fast path (:func:`csim_native`): the firmware plus ``tb/<p>_bridge.cpp`` become one
shared library with an ``extern "C"`` batch entry point over int64 codes, called
through ctypes — no text files, no process per batch. Hand-off path
(:func:`run_testbench`): the testbench binary a firmware engineer would run, over
``tb_data/*.dat``, with its verdict parsed.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwai.codegen.fileset import FileSet
from hwai.codegen.native import flat_inputs
from hwai.errors import HwaiError
from hwai.ir.graph import Graph
from hwai.sim import gcc

Project = FileSet | str | Path


def as_fileset(project: Project) -> FileSet:
    return project if isinstance(project, FileSet) else FileSet.from_dir(project)


def project_name(files: FileSet) -> str:
    """The project name, from the one ``tb/<p>_bridge.cpp`` in the file set."""
    names = sorted(p[len("tb/"):-len("_bridge.cpp")] for p in files
                   if p.startswith("tb/") and p.endswith("_bridge.cpp"))
    if len(names) != 1:
        raise HwaiError(f"not a hwai native project: expected one tb/<project>_bridge.cpp, found {names}")
    return names[0]


class NativeModel:
    """A compiled C-simulation library: ``predict(codes) -> codes`` (int64 rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lib = ctypes.CDLL(str(path))
        self._lib.hwai_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int]
        self._lib.hwai_batch.restype = None
        self.n_in = int(self._lib.hwai_n_in_codes())
        self.n_out = int(self._lib.hwai_n_out_codes())

    def predict(self, flat: np.ndarray, threads: int = 0) -> np.ndarray:
        """Run every row of ``flat`` (n, n_in) int64 codes; return (n, n_out) codes.

        ``threads=0`` uses every core for large batches (rows are independent);
        ``threads=1`` is the single-threaded figure to compare with hls4ml's predict.
        """
        x = np.ascontiguousarray(flat, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise HwaiError(f"C simulation takes (n, {self.n_in}) input codes, got {x.shape}")
        y = np.empty((x.shape[0], self.n_out), dtype=np.int64)
        self._lib.hwai_batch(x.ctypes.data, y.ctypes.data, x.shape[0], int(threads))
        return y


_LOADED: dict[Path, NativeModel] = {}


def load_native(project: Project, cache_dir: str | Path | None = None) -> NativeModel:
    """Compile (or fetch from the cache) and load the project's C-simulation library."""
    files = as_fileset(project)
    bridge = f"tb/{project_name(files)}_bridge.cpp"
    path = gcc.build_cached(files, [bridge], "libcsim.so", shared=True, cache_dir=cache_dir)
    if path not in _LOADED:  # dlopen of one path twice returns the same handle anyway
        _LOADED[path] = NativeModel(path)
    return _LOADED[path]


def csim_native(graph: Graph, project: Project, x_codes: np.ndarray | dict[str, np.ndarray],
                cache_dir: str | Path | None = None) -> np.ndarray | dict[str, np.ndarray]:
    """Output codes of the generated C++ for input codes ``x_codes``.

    One graph output: an (n, size) array; several: a dict by output tensor name.
    Codes outside an input's type are rejected (the bit move would wrap them silently).
    """
    flat = flat_inputs(graph, x_codes)
    _check_codes(graph, flat)
    y = load_native(project, cache_dir).predict(flat)
    sizes = [graph.tensor(o).size for o in graph.outputs]
    bounds = np.cumsum([0] + sizes)
    outs = {o: y[:, a:b] for o, a, b in zip(graph.outputs, bounds[:-1], bounds[1:])}
    return outs[graph.outputs[0]] if len(outs) == 1 else outs


def _check_codes(graph: Graph, flat: np.ndarray) -> None:
    col = 0
    for name in graph.inputs:
        t = graph.tensor(name)
        part = flat[:, col:col + t.size]
        if t.type is not None and not t.type.contains(part):
            raise HwaiError(f"input {name!r}: codes outside {t.type} "
                            f"[{t.type.qmin}, {t.type.qmax}]")
        col += t.size


# --- testbench ---------------------------------------------------------------

@dataclass(frozen=True)
class TestbenchResult:
    """Verdict of ``tb/<p>_test.cpp`` over ``tb_data``."""

    __test__ = False  # not a pytest class

    samples: int
    mismatches: int
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and self.mismatches == 0 and self.samples > 0


_VERDICT = re.compile(r"HWAI_TB samples=(\d+) mismatches=(\d+)")


def run_testbench(project_dir: str | Path, cache_dir: str | Path | None = None,
                  timeout_s: float = 600) -> TestbenchResult:
    """Build the testbench binary (cached) and run it in ``project_dir`` on ``tb_data``."""
    project_dir = Path(project_dir)
    files = FileSet.from_dir(project_dir)
    p = project_name(files)
    exe = gcc.build_cached(files, [f"tb/{p}_test.cpp", f"firmware/{p}.cpp"], f"{p}_test",
                           shared=False, cache_dir=cache_dir)
    proc = subprocess.run([str(exe), "tb_data"], cwd=project_dir, capture_output=True,
                          text=True, timeout=timeout_s, check=False)
    m = _VERDICT.search(proc.stdout)
    if m is None:
        raise HwaiError(f"testbench of {project_dir} gave no verdict (exit {proc.returncode}): "
                        f"{(proc.stdout + proc.stderr).strip()[-500:]}")
    return TestbenchResult(int(m.group(1)), int(m.group(2)), proc.returncode, proc.stdout)
