"""Benchmark: Verilator vectors/min on the jet MLP, and the estimator's out-of-sample error.

Adds two top-level keys to ``bench/results/codegen.json`` (other keys are kept):

* ``verilator``: build seconds (cold, fresh cache) and streaming throughput of the
  16-64-32-32-5 jet MLP (70 % zeros, 6-bit weights, 2 pipeline stages per layer) on 1M
  vectors, exact against the golden model;
* ``estimator``: LUT/FF/DSP error of the fitted estimator on the *test* calibration
  designs (never used by the fit), read from the stored Yosys results — no synthesis.

Run:  python bench/bench_rtl.py [--vectors N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwai.codegen.verilog import generate_verilog  # noqa: E402
from hwai.estimate.calibration import out_of_sample  # noqa: E402
from hwai.estimate.designs import mlp_graph  # noqa: E402
from hwai.sim.rtl import DEFAULT_JOBS, compare_with_golden  # noqa: E402

OUT = REPO / "bench" / "results" / "codegen.json"


def bench_verilator(n: int) -> dict:
    """Cold build + streaming of ``n`` random and corner vectors through the jet MLP."""
    if shutil.which("verilator") is None:
        return {"skipped": "verilator not installed"}
    g = mlp_graph([16, 64, 32, 32, 5], sparsity=0.7, w_bits=6, x_bits=8)
    t = g.tensor("x").type
    rng = np.random.default_rng(1)
    x = rng.integers(t.qmin, t.qmax + 1, size=(n, 16))
    x[: n // 50] = rng.choice([t.qmin, t.qmax, 0, -1], size=(n // 50, 16))
    with tempfile.TemporaryDirectory(prefix="hwai_bench_rtl_") as tmp:
        r = compare_with_golden(g, generate_verilog(g, stages=2), x, "verilator",
                                cache_dir=Path(tmp) / "cache", workdir=Path(tmp) / "run")
    return {"design": "mlp_graph([16,64,32,32,5], sparsity=0.7, w_bits=6, x_bits=8), stages=2",
            "model_threads": 1, "processes": DEFAULT_JOBS, **r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=1_000_000)
    args = ap.parse_args()
    doc = json.loads(OUT.read_text()) if OUT.is_file() else {}
    doc["verilator"] = bench_verilator(args.vectors)
    doc["estimator"] = out_of_sample()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(json.dumps({k: doc[k] for k in ("verilator", "estimator")}, indent=1))


if __name__ == "__main__":
    main()
