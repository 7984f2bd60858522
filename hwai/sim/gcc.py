"""g++ against the Xilinx ``ap_types`` headers that hls4ml ships: compile and cache.

Builds happen in a private temporary folder (parallel-safe), are keyed by the
generated sources' digest plus compiler, flags and header location, and land in the
cache with one atomic rename, so concurrent test workers never see half a build.
Compiler errors are re-raised quoting the first ``file:line: error`` of the log,
with paths relative to the generated project.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from hwai.codegen.aptypes import ap_types_dir
from hwai.codegen.fileset import FileSet
from hwai.errors import HwaiError, require_tool
from hwai.progress import progress

# Measured on the 16-64-32-32-5 jet MLP (table-driven layer loops), g++ 12:
# -O2 vs -O1: 1.66 vs 1.49 s user to compile, 57k vs 51k samples/s; -O3 and
# -march=native gave nothing more. Straight-line unrolled MACs instead of loops took
# ~19 s to compile and simulated *slower* (i-cache), which is why the dense template
# loops over constant tables and leaves the unrolling to the HLS pragmas.
CSIM_FLAGS: tuple[str, ...] = ("-O2", "-std=c++14", "-fPIC", "-fvisibility=hidden",
                               "-fno-semantic-interposition", "-pthread")
# Directories with these prefixes are the project's sources; tb_data etc. are not.
SOURCE_DIRS = ("firmware/", "tb/")


class CompileError(HwaiError):
    """g++ rejected generated sources; ``str()`` quotes the first error with file:line."""


def compiler() -> str:
    """Path of g++ (MissingToolError with the install command when absent)."""
    return require_tool("g++", "apt-get install g++  (or: conda install gxx)")


@functools.lru_cache(maxsize=None)
def compiler_id(cxx: str) -> str:
    """First line of ``g++ --version``: part of the cache key (a new compiler rebuilds)."""
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else cxx


_ERROR_RE = re.compile(r"^(?P<loc>[^\s:][^:]*:\d+(?::\d+)?): (?:fatal )?error: (?P<msg>.*)$", re.M)


def first_error(log: str) -> str | None:
    """``file:line[:col]: message`` of the first compiler error in ``log``."""
    m = _ERROR_RE.search(log)
    return f"{m.group('loc')}: {m.group('msg')}" if m else None


def compile(sources: Sequence[str], output: str, cwd: Path, *, shared: bool = False,
            flags: Sequence[str] = CSIM_FLAGS, include_dirs: Sequence[Path] = (),
            pch: Path | None = None) -> Path:
    """Run g++ on ``sources`` (relative to ``cwd``); the log goes to ``cwd/build.log``.

    ``pch``: a header from :func:`pch_header`, force-included (g++ uses its ``.gch``).
    """
    cmd = [compiler(), *flags, "-isystem", str(ap_types_dir())]
    cmd += [f"-I{d}" for d in include_dirs] + (["-include", str(pch)] if pch else [])
    cmd += (["-shared"] if shared else []) + ["-o", output, *sources]
    with progress(f"g++ building {output}"):
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    log = Path(cwd) / "build.log"
    log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        where = first_error(proc.stderr) or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompileError(f"g++ failed: {where} (full log: {log})")
    return Path(cwd) / output


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$HWAI_CACHE_DIR/csim``, else ``~/.cache/hwai/csim``."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("HWAI_CACHE_DIR"):
        root = Path(os.environ["HWAI_CACHE_DIR"]) / "csim"
    else:
        root = Path.home() / ".cache" / "hwai" / "csim"
    root.mkdir(parents=True, exist_ok=True)
    return root


def sources_only(files: FileSet) -> FileSet:
    """The compiled part of a project: vectors and docs do not change the binary."""
    return FileSet({p: c for p, c in files.items() if p.startswith(SOURCE_DIRS)})


def build_key(files: FileSet, sources: Sequence[str], shared: bool,
              flags: Sequence[str] = CSIM_FLAGS) -> str:
    parts = [sources_only(files).digest(), *sources, str(shared), *flags,
             compiler_id(compiler()), str(ap_types_dir())]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


def build_cached(files: FileSet, sources: Sequence[str], artifact: str, *, shared: bool,
                 cache_dir: str | Path | None = None, flags: Sequence[str] = CSIM_FLAGS,
                 use_pch: bool = True) -> Path:
    """Compile ``sources`` of ``files`` once per content; return the cached artefact's path."""
    root = cache_root(cache_dir)
    final = root / build_key(files, sources, shared, flags)
    if (final / artifact).is_file():
        return final / artifact
    pch = pch_header(root, flags) if use_pch else None
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    sources_only(files).write(tmp)
    try:
        compile(sources, artifact, tmp, shared=shared, flags=flags, pch=pch)
    except CompileError as err:  # keep the sources and log for the user, named by key
        failed = root / f"failed-{final.name}"
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(tmp, failed)
        raise CompileError(str(err).replace(str(tmp), str(failed))) from None
    _publish(tmp, final)
    return final / artifact


def _publish(tmp: Path, final: Path) -> None:
    try:
        os.rename(tmp, final)  # atomic: readers see all of a build or nothing
    except OSError:  # another worker published the same key first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)


_PCH_SOURCE = '#include "ap_fixed.h"\n#include "ap_int.h"\n'


def pch_header(root: Path, flags: Sequence[str] = CSIM_FLAGS) -> Path | None:
    """Precompiled ap_fixed.h + ap_int.h, built once per compiler/flags/headers.

    Measured on the jet MLP: parsing the ap_types headers is ~25% of g++'s time per
    build (2.9 s -> 2.2 s user). A .gch is only valid for identical flags, so the
    flags are part of its key; if building it fails, builds simply go without.
    """
    key = hashlib.sha256("\0".join([*flags, compiler_id(compiler()), str(ap_types_dir())])
                         .encode()).hexdigest()[:24]
    final = root / f"pch-{key}"
    if (final / "hwai_pch.h.gch").is_file():
        return final / "hwai_pch.h"
    tmp = Path(tempfile.mkdtemp(prefix="pch-build-", dir=root))
    (tmp / "hwai_pch.h").write_text(_PCH_SOURCE)
    cmd = [compiler(), *flags, "-isystem", str(ap_types_dir()), "-x", "c++-header",
           "hwai_pch.h", "-o", "hwai_pch.h.gch"]
    if subprocess.run(cmd, cwd=tmp, capture_output=True, check=False).returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    _publish(tmp, final)
    return final / "hwai_pch.h"
