"""RTL simulation of hwai's Verilog against test vectors (Verilator or Icarus Verilog).

Vectors go in through a hex file read by ``$readmemh`` and come back through a hex file
written by the testbench, so the same testbench core serves both simulators and the
comparison with :func:`hwai.ir.interp.run` is on integer codes.

Verilator: the Debian package (5.006, ``apt-get install verilator``) is used — it brings
its C++ runtime and headers and compiles with the system g++; a PyPI wheel would still
need that compiler setup and is not an official distribution. Icarus (``iverilog``) is the
small-test fallback: no C++ build, but ~100x slower per vector.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping

import numpy as np

from hwai.codegen.fileset import FileSet
from hwai.codegen.verilog import CAST_LIB, testbench_files, top_module
from hwai.errors import HwaiError, MismatchError, require_tool
from hwai.ir.graph import Graph
from hwai.progress import progress

INSTALL = {"verilator": "apt-get install -y verilator", "iverilog": "apt-get install -y iverilog"}


def pack_hex(codes: np.ndarray, width: int) -> list[str]:
    """One hex line per row: element i in bits [i*width, (i+1)*width) (two's complement)."""
    u = np.asarray(codes, dtype=object) & ((1 << width) - 1)
    shifts = [1 << (i * width) for i in range(u.shape[1])]
    return [format(sum(int(v) * s for v, s in zip(row, shifts)), "x") for row in u]


def unpack_hex(lines: list[str], n: int, width: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_hex`, sign-extending when ``signed``."""
    mask, out = (1 << width) - 1, np.zeros((len(lines), n), dtype=np.int64)
    for r, line in enumerate(lines):
        v = int(line, 16)
        for i in range(n):
            e = (v >> (i * width)) & mask
            out[r, i] = e - (1 << width) if signed and e >> (width - 1) else e
    return out


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float) -> None:
    """Run a tool with captured output; raise with the log tail on failure."""
    try:
        with progress(f"{Path(cmd[0]).name} ({log.stem})"):
            res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HwaiError(f"{cmd[0]} timed out after {timeout:.0f} s (log: {log})") from None
    log.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise HwaiError(f"{cmd[0]} failed (exit {res.returncode}); log {log}:\n{tail}")


def _tb_context(graph: Graph, module: str) -> dict:
    tin, tout = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    return {"module": module, "in_width": tin.size * tin.type.width,
            "out_width": tout.size * tout.type.width}


def _build_and_run(sim: str, work: Path, module: str, timeout: float) -> None:
    exe = require_tool(sim, INSTALL[sim])
    srcs = ["tb_core.v", f"{module}.v", CAST_LIB]
    if sim == "iverilog":
        _run([exe, "-g2005", "-o", "sim.vvp", "-s", "tb_top", "tb_top.v", *srcs], work,
             work / "build.log", timeout)
        _run([require_tool("vvp", INSTALL[sim]), "-n", "sim.vvp"], work, work / "run.log", timeout)
        return
    _run([exe, "--cc", "--exe", "--build", "-O2", "-Wno-fatal", "-Wno-lint", "-Wno-style",
          "--top-module", "tb_core", "-Mdir", "obj", *srcs, "sim_main.cpp",
          "-CFLAGS", "-O1", "-j", "2"], work, work / "build.log", timeout)
    _run(["./obj/Vtb_core"], work, work / "run.log", timeout)


def rtl_sim(graph: Graph, files: FileSet | Mapping[str, bytes] | str | Path,
            x_codes: np.ndarray, simulator: str = "verilator", workdir: str | Path | None = None,
            timeout: float = 600.0) -> np.ndarray:
    """Simulate the generated module on ``x_codes`` (batch, n_in); return output codes.

    ``files``: the FileSet from :func:`hwai.codegen.verilog.generate_verilog` or a folder
    holding it. Missing simulator -> :class:`hwai.errors.MissingToolError`.
    """
    if simulator not in INSTALL:
        raise ValueError(f"simulator {simulator!r} not one of {sorted(INSTALL)}")
    require_tool(simulator, INSTALL[simulator])
    if isinstance(files, (str, Path)):
        folder = Path(files)
        files = FileSet({p.name: p.read_bytes() for p in sorted(folder.glob("*.v"))
                         if not p.name.startswith("tb_")})
    files = FileSet(files)
    module = top_module(files)
    x = np.asarray(x_codes, dtype=np.int64).reshape(len(x_codes), -1)
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hwai_rtl_"))
    tb = testbench_files(_tb_context(graph, module), len(x))
    FileSet({**dict(files), **tb}).write(work)
    tin, tout = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    (work / "in.hex").write_text("\n".join(pack_hex(x, tin.type.width)) + "\n")
    _build_and_run(simulator, work, module, timeout)
    lines = (work / "out.hex").read_text().split()
    if len(lines) != len(x):
        raise HwaiError(f"{simulator}: {len(lines)} outputs for {len(x)} inputs (see {work})")
    return unpack_hex(lines, tout.size, tout.type.width, tout.type.signed)


def compare_with_golden(graph: Graph, files, x_codes: np.ndarray,
                        simulator: str = "verilator", **kw) -> dict:
    """Run RTL and golden model; raise MismatchError on any differing integer."""
    from hwai.ir.interp import run

    t0 = time.perf_counter()
    got = rtl_sim(graph, files, x_codes, simulator, **kw)
    seconds = time.perf_counter() - t0
    want = run(graph, x_codes)[graph.outputs[0]]
    bad = np.nonzero(np.any(got != want, axis=1))[0]
    if bad.size:
        k = int(bad[0])
        raise MismatchError(f"{simulator}: {bad.size}/{len(want)} vectors differ from the golden "
                            f"model; first #{k}: rtl {got[k].tolist()} vs golden {want[k].tolist()}")
    return {"vectors": int(len(want)), "mismatches": 0, "seconds": round(seconds, 2)}
