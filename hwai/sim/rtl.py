"""RTL simulation of hwai's Verilog against test vectors (Verilator or Icarus Verilog).

Verilator (the fast path): the generated module is the Verilator top, driven by a C++
main (``verilog/sim_main.cpp.j2``) that streams vectors from a binary file (32-bit
little-endian words, :func:`pack_words`) one per clock and writes outputs the same way.
The model is built once per (sources, driver, flags, threads, Verilator version) into
a cache folder, so the same binary serves any number of vector files. Icarus
(``iverilog``) is the small-test fallback: a Verilog testbench reads hex through
``$readmemh`` — no C++ build, but ~100x slower per vector. Either way the comparison
with :func:`hwai.ir.interp.run` is on integer codes.

Verilator: the Debian package (5.006, ``apt-get install verilator``) is used — it brings
its C++ runtime and headers and compiles with the system g++; a PyPI wheel would still
need that compiler setup and is not an official distribution.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hwai.codegen.fileset import FileSet
from hwai.codegen.verilog import CAST_LIB, sim_top, testbench_files, top_module, verilator_driver
from hwai.codegen.verilog_context import io_ports
from hwai.errors import HwaiError, MismatchError, require_tool
from hwai.ir.graph import Graph
from hwai.progress import progress

INSTALL = {"verilator": "apt-get install -y verilator", "iverilog": "apt-get install -y iverilog"}
# -O3: Verilator's own optimisations; --x-* fast: no X randomisation code (regs are reset
# or written before they are read). C++ at -O2: -O3 builds slower for no measured gain.
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style")
CXX_FLAGS = "-O2"
# Measured on the jet MLP (2 shared cores): a --threads 2 model is ~35x *slower* (its
# threads synchronise on every eval of a tiny cycle), so models are single-threaded and
# the cores are used by streaming shards of the vectors through separate processes.
DEFAULT_THREADS = 1
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
Progress = Callable[[str], None]

# --- vector files -------------------------------------------------------------------


# element width: one for every column, or one per column (several inputs side by side)
Width = int | np.ndarray


def col_widths(width: Width, n: int) -> np.ndarray:
    """Per-column element widths: one width for all ``n`` columns, or one per column."""
    return np.broadcast_to(np.asarray(width, dtype=np.int64), (n,))


def _offsets(width: Width, n: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(col_widths(width, n))]).astype(np.int64)


def pack_hex(codes: np.ndarray, width: Width) -> list[str]:
    """One hex line per row: element i in its bits (offset of the widths before it; two's complement)."""
    n = np.asarray(codes).shape[1]
    ws, offs = col_widths(width, n), _offsets(width, n)
    u = [np.asarray(codes, dtype=object)[:, i] & ((1 << int(ws[i])) - 1) for i in range(n)]
    return [format(sum(int(u[i][r]) << int(offs[i]) for i in range(n)), "x") for r in range(len(codes))]


def unpack_hex(lines: list[str], n: int, width: Width, signed: bool | np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_hex`, sign-extending the columns that are ``signed``."""
    ws, offs = col_widths(width, n), _offsets(width, n)
    sg = np.broadcast_to(np.asarray(signed, dtype=bool), (n,))
    out = np.zeros((len(lines), n), dtype=np.int64)
    for r, line in enumerate(lines):
        v = int(line, 16)
        for i in range(n):
            w = int(ws[i])
            e = (v >> int(offs[i])) & ((1 << w) - 1)
            out[r, i] = e - (1 << w) if sg[i] and e >> (w - 1) else e
    return out


def n_words(n: int, width: Width) -> int:
    """32-bit words holding ``n`` elements of ``width`` bits (or of per-column widths)."""
    return -(-int(_offsets(width, n)[-1]) // 32)


def _pieces(off: int, width: int):
    """(word, shift in word, bit offset in element, bits) pieces of an element at bit ``off``."""
    done = 0
    while done < width:
        q, s = divmod(off + done, 32)
        take = min(32 - s, width - done)
        yield q, s, done, take
        done += take


def pack_words(codes: np.ndarray, width: Width) -> np.ndarray:
    """(rows, n) codes -> (rows, words) little-endian uint32, the layout of :func:`pack_hex`."""
    c = np.asarray(codes, dtype=np.int64)
    ws, offs = col_widths(width, c.shape[1]), _offsets(width, c.shape[1])
    if ws.size and not (ws.min() >= 1 and ws.max() <= 64):
        raise ValueError(f"element width outside 1..64: {sorted(set(ws.tolist()))}")
    out = np.zeros((c.shape[0], n_words(c.shape[1], width)), dtype="<u4")
    for i in range(c.shape[1]):
        u = c[:, i].astype(np.uint64)            # two's complement bits
        for q, s, lo, take in _pieces(int(offs[i]), int(ws[i])):
            part = (u >> np.uint64(lo)) & np.uint64((1 << take) - 1)
            out[:, q] |= (part << np.uint64(s)).astype("<u4")
    return out


def unpack_words(words: np.ndarray, n: int, width: Width, signed: bool | np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_words`, sign-extending the columns that are ``signed``."""
    w = np.asarray(words).astype(np.uint64)
    ws, offs = col_widths(width, n), _offsets(width, n)
    sg = np.broadcast_to(np.asarray(signed, dtype=bool), (n,))
    out = np.zeros((w.shape[0], n), dtype=np.uint64)
    for i in range(n):
        for q, s, lo, take in _pieces(int(offs[i]), int(ws[i])):
            part = (w[:, q] >> np.uint64(s)) & np.uint64((1 << take) - 1)
            out[:, i] |= part << np.uint64(lo)
    res = out.astype(np.int64)
    for i in range(n):
        b = int(ws[i])
        if sg[i] and b < 64:
            res[:, i] -= ((res[:, i] >> (b - 1)) & 1) << b
    return res


def io_layout(graph: Graph) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(widths, signed) per column of the flat input and output rows (graph order)."""
    def cols(ports: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([p["elem_width"] for p in ports for _ in range(p["n"])], dtype=np.int64),
                np.array([p["signed"] for p in ports for _ in range(p["n"])], dtype=bool))
    ins, outs = io_ports(graph)
    return cols(ins), cols(outs)


# --- tools ----------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float) -> None:
    """Run a tool with captured output; raise with the log tail on failure."""
    try:
        with progress(f"{Path(cmd[0]).name} ({log.stem})"):
            res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HwaiError(f"{Path(cmd[0]).name} timed out after {timeout:.0f} s (log: {log}); a large design "
                        "needs a longer limit: rtl: {timeout_s: ...} in the recipe") from None
    log.write_text(" ".join(cmd) + "\n" + res.stdout + res.stderr)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise HwaiError(f"{Path(cmd[0]).name} failed (exit {res.returncode}); log {log}:\n{tail}")


def _tb_context(graph: Graph, module: str) -> dict:
    (wi, _), (wo, _) = io_layout(graph)
    return {"module": sim_top(graph, module)[0], "in_width": int(wi.sum()), "out_width": int(wo.sum())}


def _fileset(files: FileSet | Mapping[str, bytes] | str | Path) -> FileSet:
    """The generated module + cast library, from a FileSet or the folder holding it."""
    if isinstance(files, (str, Path)):
        folder = Path(files)
        return FileSet({p.name: p.read_bytes() for p in sorted(folder.glob("*.v"))
                        if not p.name.startswith("tb_")})
    return FileSet(files)


@functools.cache
def verilator_version(exe: str) -> str:
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def verilator_cache(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$HWAI_CACHE_DIR/verilator``, else ``~/.cache/hwai/verilator``."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("HWAI_CACHE_DIR") or Path.home() / ".cache" / "hwai") / "verilator"


# --- Verilator: build once, stream many -------------------------------------------------


def verilator_build(graph: Graph, files: FileSet | Mapping[str, bytes] | str | Path,
                    threads: int = DEFAULT_THREADS, cache_dir: str | Path | None = None,
                    timeout: float = 600.0, progress: Progress | None = None) -> Path:
    """Build (or find in the cache) the Verilator model of ``files``; return its executable.

    ``threads`` > 1 builds a multi-threaded model (``--threads N``).
    """
    exe = require_tool("verilator", INSTALL["verilator"])
    fs = _fileset(files)
    module = top_module(fs)
    top, extra = sim_top(graph, module)
    fs = FileSet({**dict(fs), **extra, "sim_main.cpp": verilator_driver(_tb_context(graph, module))})
    flags = [*VERILATOR_FLAGS, *(["--threads", str(threads)] if threads > 1 else [])]
    key = _build_key(fs, flags, exe)
    final = verilator_cache(cache_dir) / key
    if (final / "obj" / "hwai_vsim").is_file():
        return final / "obj" / "hwai_vsim"
    say = progress or (lambda msg: None)
    say(f"verilator: building {module} ({'--threads ' + str(threads) if threads > 1 else '1 thread'})")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=final.parent))
    fs.write(work)
    _run([exe, "--cc", "--exe", "--build", *flags, "--top-module", top, "-Mdir", "obj",
          "-o", "hwai_vsim", f"{module}.v", *extra, CAST_LIB, "sim_main.cpp", "-CFLAGS", CXX_FLAGS,
          "-j", "2"], work, work / "build.log", timeout)
    try:
        os.replace(work, final)               # atomic: a concurrent build of the same key wins
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return final / "obj" / "hwai_vsim"


def _build_key(fs: FileSet, flags: list[str], exe: str) -> str:
    """Digest of everything that changes the model binary (not the vectors)."""
    parts = [fs.digest(), *flags, CXX_FLAGS, verilator_version(exe)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def verilator_stream(exe: Path, graph: Graph, x_codes: np.ndarray,
                     workdir: str | Path | None = None, timeout: float = 600.0,
                     progress: Progress | None = None, jobs: int = DEFAULT_JOBS) -> np.ndarray:
    """Run a built model (:func:`verilator_build`) on ``x_codes``; return output codes.

    ``jobs`` > 1 splits the vectors into that many contiguous shards, each streamed by
    its own process (each resets the pipeline first, so shards are independent).
    """
    (wi, _), (wo, so) = io_layout(graph)
    x = np.asarray(x_codes, dtype=np.int64).reshape(len(x_codes), -1)
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hwai_rtl_"))
    work.mkdir(parents=True, exist_ok=True)
    shards = np.array_split(x, max(1, min(jobs, len(x))))
    for k, shard in enumerate(shards):
        pack_words(shard, wi).tofile(work / f"in{k}.bin")
    if progress:
        progress(f"verilator: {len(x)} vectors, {len(shards)} process(es)")
    _run_all([[str(exe), f"in{k}.bin", f"out{k}.bin"] for k in range(len(shards))], work, timeout)
    words = np.concatenate([np.fromfile(work / f"out{k}.bin", dtype="<u4")
                            for k in range(len(shards))])
    ow = n_words(len(wo), wo)
    if words.size != len(x) * ow:
        raise HwaiError(f"verilator: {words.size // ow} outputs for {len(x)} inputs (see {work})")
    return unpack_words(words.reshape(len(x), ow), len(wo), wo, so)


def _run_all(cmds: list[list[str]], cwd: Path, timeout: float) -> None:
    """Run ``cmds`` concurrently (logs run<k>.log); raise on the first failure."""
    if len(cmds) == 1:
        return _run(cmds[0], cwd, cwd / "run0.log", timeout)
    with ThreadPoolExecutor(max_workers=len(cmds)) as pool:
        futs = [pool.submit(_run, c, cwd, cwd / f"run{k}.log", timeout) for k, c in enumerate(cmds)]
        for f in futs:
            f.result()


# --- Icarus ---------------------------------------------------------------------------


def icarus_sim(graph: Graph, files: FileSet, x: np.ndarray, work: Path, timeout: float) -> np.ndarray:
    """Hex-file testbench under Icarus Verilog (small vector counts)."""
    module = top_module(files)
    extra = sim_top(graph, module)[1]
    tb = testbench_files(_tb_context(graph, module), len(x))
    FileSet({**dict(files), **extra, **tb}).write(work)
    (wi, _), (wo, so) = io_layout(graph)
    (work / "in.hex").write_text("\n".join(pack_hex(x, wi)) + "\n")
    srcs = ["tb_core.v", f"{module}.v", *extra, CAST_LIB]
    _run([require_tool("iverilog", INSTALL["iverilog"]), "-g2005", "-o", "sim.vvp", "-s", "tb_top",
          "tb_top.v", *srcs], work, work / "build.log", timeout)
    _run([require_tool("vvp", INSTALL["iverilog"]), "-n", "sim.vvp"], work, work / "run.log", timeout)
    lines = (work / "out.hex").read_text().split()
    if len(lines) != len(x):
        raise HwaiError(f"iverilog: {len(lines)} outputs for {len(x)} inputs (see {work})")
    return unpack_hex(lines, len(wo), wo, so)


# --- public entry points --------------------------------------------------------------


def rtl_sim(graph: Graph, files: FileSet | Mapping[str, bytes] | str | Path,
            x_codes: np.ndarray, simulator: str = "verilator", workdir: str | Path | None = None,
            timeout: float = 600.0, threads: int = DEFAULT_THREADS, jobs: int = DEFAULT_JOBS,
            cache_dir: str | Path | None = None, progress: Progress | None = None) -> np.ndarray:
    """Simulate the generated module on ``x_codes`` (batch, n_in); return output codes.

    ``files``: the FileSet from :func:`hwai.codegen.verilog.generate_verilog` or a folder
    holding it. Missing simulator -> :class:`hwai.errors.MissingToolError`. Verilator
    only: ``threads`` and ``cache_dir`` (:func:`verilator_build`), ``jobs``
    (:func:`verilator_stream`); ``progress`` receives one-line status messages.
    """
    if simulator not in INSTALL:
        raise ValueError(f"simulator {simulator!r} not one of {sorted(INSTALL)}")
    require_tool(simulator, INSTALL[simulator])
    x = np.asarray(x_codes, dtype=np.int64).reshape(len(x_codes), -1)
    if simulator == "verilator":
        exe = verilator_build(graph, files, threads, cache_dir, timeout, progress)
        return verilator_stream(exe, graph, x, workdir, timeout, progress, jobs)
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hwai_rtl_"))
    return icarus_sim(graph, _fileset(files), x, work, timeout)


def compare_with_golden(graph: Graph, files, x_codes: np.ndarray,
                        simulator: str = "verilator", **kw) -> dict:
    """Run RTL and golden model; raise MismatchError on any differing integer.

    Returns vectors, mismatches (0), seconds (RTL wall time, build included) and, for
    Verilator, build_s, sim_s (streaming only) and vectors_per_min (from sim_s).
    ``kw`` go to :func:`rtl_sim`.
    """
    from hwai.codegen.native import golden_outputs

    t0 = time.perf_counter()
    got, timing = _timed_rtl(graph, files, x_codes, simulator, kw)
    seconds = time.perf_counter() - t0
    want = golden_outputs(graph, np.asarray(x_codes, dtype=np.int64).reshape(len(x_codes), -1))
    bad = np.nonzero(np.any(got != want, axis=1))[0]
    if bad.size:
        k = int(bad[0])
        raise MismatchError(f"{simulator}: {bad.size}/{len(want)} vectors differ from the golden "
                            f"model; first #{k}: rtl {got[k].tolist()} vs golden {want[k].tolist()}")
    return {"vectors": int(len(want)), "mismatches": 0, "seconds": round(seconds, 2), **timing}


def _timed_rtl(graph: Graph, files, x_codes: np.ndarray, simulator: str,
               kw: dict) -> tuple[np.ndarray, dict]:
    """RTL outputs, with Verilator's build and streaming times measured apart."""
    if simulator != "verilator":
        return rtl_sim(graph, files, x_codes, simulator, **kw), {}
    t0 = time.perf_counter()
    exe = verilator_build(graph, files, kw.get("threads", DEFAULT_THREADS), kw.get("cache_dir"),
                          kw.get("timeout", 600.0), kw.get("progress"))
    t1 = time.perf_counter()
    got = verilator_stream(exe, graph, x_codes, kw.get("workdir"), kw.get("timeout", 600.0),
                           kw.get("progress"), kw.get("jobs", DEFAULT_JOBS))
    sim_s = time.perf_counter() - t1
    return got, {"build_s": round(t1 - t0, 2), "sim_s": round(sim_s, 3),
                 "vectors_per_min": int(60 * len(got) / max(sim_s, 1e-9))}
