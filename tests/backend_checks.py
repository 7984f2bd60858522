"""Shared by the backend-exactness tests: count differing output rows, skip without a tool."""

from __future__ import annotations

import shutil

import numpy as np
import pytest


def mismatches(got: np.ndarray, want: np.ndarray) -> int:
    """Rows of ``got`` that differ from ``want`` in any element (shapes must agree)."""
    assert got.shape == want.shape
    return int(np.count_nonzero(np.any(got != want, axis=1)))


def needs(tool: str) -> None:
    """Skip the calling test, with the reason, when ``tool`` is not on PATH."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")


def native_apfixed_mismatches(design, target, vectors: np.ndarray, golden: np.ndarray, folder) -> int:
    """Write the native HLS project (its literal tables checked against the codes), compile its
    ap_fixed C simulation and count rows differing from ``golden``; skips without g++/ap_types."""
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    needs("g++")
    from hwai.codegen.native import generate
    from hwai.sim.handoff import table_differences
    from hwai.sim.native_csim import csim_native

    files = generate(design, target)
    files.write(folder / "native")
    assert table_differences(folder / "native") == []
    got = csim_native(design, files, vectors)
    if isinstance(got, dict):   # several outputs: side by side in graph order, as golden_outputs
        got = np.concatenate([got[o] for o in design.outputs], axis=1)
    return mismatches(got, golden)
