"""Tiny particle-set files and graphs for the Deep Sets tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

ACT = FixedType(8, 3, False)
INPUT = FixedType(10, 4, True, "RND_CONV", "SAT")


def particles_npz(path: Path, n: int = 400, p: int = 8, f: int = 4, seed: int = 0) -> Path:
    """An npz shaped like jets_constituents.npz: Xp (n, p, f) with zero padding, mask, X, y (5 classes)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 5
    counts = rng.integers(1, p + 1, n)
    mask = (np.arange(p)[None, :] < counts[:, None]).astype(np.uint8)
    xp = rng.normal(size=(n, p, f)) * np.linspace(0.5, 40, f) + 3 + y[:, None, None]
    xp[:, 0, 0] += 1000.0 * (np.arange(n) == 7)   # one far outlier: the clip must hold it
    xp = (xp * mask[..., None]).astype(np.float32)
    np.savez(path, Xp=xp, mask=mask, X=rng.normal(size=(n, 16)).astype(np.float32), y=y,
             class_names=np.array(["g", "q", "W", "Z", "t"]),
             particle_feature_names=np.array([f"pf{i}" for i in range(f)]))
    return path


def particle_graph(p: int = 8, sizes: tuple[int, ...] = (4, 6, 5), seed: int = 0, wbits: int = 6,
                   input_type: FixedType = INPUT, act: FixedType = ACT) -> Graph:
    """Per-particle dense -> relu -> dense on a (p, F) input (the Deep Sets phi network)."""
    rng = np.random.default_rng(seed)
    wt = FixedType(wbits, 1)
    layers, prev = [], "x"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        w = rng.integers(wt.qmin, wt.qmax + 1, (n_in, n_out))
        w[rng.random(w.shape) < 0.3] = 0
        b = rng.integers(wt.qmin, wt.qmax + 1, n_out)
        layers.append((Node(f"fc{k}", "dense", (prev,), (f"fc{k}_out",),
                            {"weight": w, "weight_type": wt, "bias": b, "bias_type": wt}),
                       Tensor(f"fc{k}_out", (p, n_out))))
        prev = f"fc{k}_out"
        if k < len(sizes) - 1:
            layers.append((Node(f"relu{k}", "relu", (prev,), (f"relu{k}_out",)), Tensor(f"relu{k}_out", (p, n_out), act)))
            prev = f"relu{k}_out"
    return infer_precision(chain("phi", Tensor("x", (p, sizes[0]), input_type), layers))


def run_particle_recipe(recipe: Path, tmp_path: Path, sets: list[str], *extra: str) -> tuple[Path, dict]:
    """``hwai compress RECIPE`` on a tiny particle file (1 epoch per step, C-sim and RTL on 10,000
    vectors) with ``sets`` as ``--set`` overrides; asserts exit 0 and 0 mismatches on hls4ml,
    native and Verilator; returns the run folder and its report. Skips without the tools."""
    import json
    import shutil

    import pytest

    pytest.importorskip("qkeras")
    pytest.importorskip("hls4ml")
    for tool in ("g++", "verilator"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    from hwai.cli import main

    data = particles_npz(tmp_path / "p.npz", n=600, p=8, f=4)
    run = tmp_path / "run"
    sets = [*sets, "steps.train.epochs=1", "steps.prune.epochs=1", "steps.quantize.epochs=1",
            "steps.csim.vectors=10000", "steps.rtl.vectors=10000"]
    args = ["compress", str(recipe), "--data", str(data), "--out", str(run), *extra]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0      # csim / rtl exit 5 on any mismatch (hls4ml, native, Verilator)
    rep = json.loads((run / "report.json").read_text())
    assert rep["csim"]["per_backend"] == {"hls4ml": 0, "native": 0} and rep["csim"]["vectors"] == 10_000
    assert rep["rtl"]["mismatches"] == 0 and rep["rtl"]["vectors"] == 10_000
    # QKeras sees the float inputs, the firmware their 10-bit codes: close, not equal
    assert rep["argmax_agreement_framework_vs_firmware"] > 0.9
    return run, rep
