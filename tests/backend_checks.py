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


def verilator_mismatches(design, target, vectors: np.ndarray, golden: np.ndarray, folder, stages: int = 2) -> int:
    """hwai's Verilog of ``design`` (``stages`` pipeline stages) under Verilator, rows differing
    from ``golden``; skips without Verilator."""
    needs("verilator")
    from hwai.codegen.verilog import generate_verilog
    from hwai.sim.rtl import rtl_sim

    return mismatches(rtl_sim(design, generate_verilog(design, target, stages=stages), vectors, workdir=folder),
                      golden)


def native_int_mismatches(design, vectors: np.ndarray, golden: np.ndarray) -> int:
    """The native int64 C simulation (hwai's fast C-sim) against ``golden``; skips without g++."""
    needs("g++")
    from hwai.sim.fast_csim import csim_fast

    return mismatches(csim_fast(design, vectors), golden)


def hls4ml_model(design, target, vectors: np.ndarray, folder):
    """The hls4ml project of ``design`` (precisions set and checked by the bridge), not compiled;
    skips without hls4ml or g++."""
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import to_hls4ml

    return to_hls4ml(design, folder / "hls", target, vectors=vectors[:200])


def hls4ml_mismatches(design, hls_model, vectors: np.ndarray, golden: np.ndarray) -> int:
    """Compile ``hls_model`` (from :func:`hls4ml_model`) and count its C-sim rows differing from ``golden``."""
    from hwai.codegen.hls4ml_bridge import compile_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    compile_hls4ml(hls_model)
    return mismatches(csim_hls4ml(design, hls_model, vectors), golden)
