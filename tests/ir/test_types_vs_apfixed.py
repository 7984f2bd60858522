"""requantize vs real ap_fixed casts (g++ + the ap_types headers hls4ml ships), many random cases."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwai.ir.types import FixedType, requantize
from hwai.sim.gcc import ap_types_dir

pytestmark = pytest.mark.csim

MODES = ["TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV"]
OVERFLOWS = ["WRAP", "SAT", "SAT_ZERO", "SAT_SYM"]
SRC = FixedType(20, 8)  # ap_fixed<20,8>: 12 fractional bits
TARGETS = [FixedType(w, i, s, r, o) for (w, i, s), r, o in
           itertools.product([(6, 2, True), (5, 0, False), (8, 8, True), (4, -1, True)], MODES, OVERFLOWS)]


def _cpp(n: int) -> str:
    lines = ['#include "ap_fixed.h"', "#include <cstdio>", "int main(){", "  long long q;",
             "  while (scanf(\"%lld\", &q) == 1) {",
             f"    ap_fixed<{SRC.width},{SRC.integer}> x; x.range() = q;"]
    for t in TARGETS:
        kind = "ap_fixed" if t.signed else "ap_ufixed"
        lines.append(f"    {{ {kind}<{t.width},{t.integer},AP_{t.rounding},AP_{t.overflow}> y = x; "
                     f"printf(\"%lld \", (long long)y.range().to_int64() - "
                     f"({int(t.signed)} && y[{t.width - 1}] ? (1LL<<{t.width}) : 0)); }}")
    lines += ["    printf(\"\\n\");", "  }", "  return 0;", "}"]
    return "\n".join(lines)


def test_requantize_equals_ap_fixed_casts(tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.fail("g++ is required for the csim tier")
    src = tmp_path / "cast.cpp"
    src.write_text(_cpp(len(TARGETS)))
    exe = tmp_path / "cast"
    subprocess.run(["g++", "-O1", "-I", str(ap_types_dir()), str(src), "-o", str(exe)],
                   check=True, capture_output=True, cwd=tmp_path)
    rng = np.random.default_rng(1)
    q = np.concatenate([rng.integers(SRC.qmin, SRC.qmax + 1, 3000),
                        np.arange(-64, 65), [SRC.qmin, SRC.qmax]]).astype(np.int64)
    out = subprocess.run([str(exe)], input=" ".join(map(str, q)), capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.split("\n")
    got = np.array([list(map(int, line.split())) for line in out if line.strip()])
    for k, t in enumerate(TARGETS):
        want = requantize(q, SRC.frac, t)
        bad = np.flatnonzero(got[:, k] != want)
        assert bad.size == 0, f"{t}: q={q[bad[0]]} ap_fixed={got[bad[0], k]} hwai={want[bad[0]]}"
