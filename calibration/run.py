"""Synthesize the calibration designs with Yosys and append results to results.csv.

Usage (repo root):  PYTHONPATH=. python calibration/run.py [--limit N] [--jobs 2]

Each design is one dense layer + ReLU (to ap_ufixed<8,3,RND,SAT>) from
:func:`hwai.estimate.designs.dense_graph`; the spec list is deterministic. Synthesis
results are cached under ~/.cache/hwai/synth, so re-running only does new designs.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from hwai.estimate.designs import dense_graph
from hwai.synth.yosys import synth_graph, yosys_command

HERE = Path(__file__).resolve().parent
FIELDS = ["name", "n_in", "n_out", "x_bits", "w_bits", "sparsity", "seed", "dsp_mode",
          "lut", "ff", "carry", "dsp", "muxf", "depth", "seconds", "tool"]


def design_specs() -> list[dict]:
    """≥30 layer designs spanning sizes, bit widths 2-16 and sparsity 0-95 %.

    Sizes are kept so that non-zero weights stay <= ~200 (a design synthesizes in
    ~5-30 s on this machine). Wide-operand designs are run with DSPs enabled so DSP
    exactness is tested; the rest with -nodsp (LUT cost, what the fit needs).
    """
    rng = np.random.default_rng(2024)
    specs = []
    grid_bits = [2, 3, 4, 6, 8, 10, 12, 16]
    for k in range(36):
        n_in = int(rng.choice([4, 8, 16, 32]))
        n_out = int(rng.choice([2, 4, 8, 16]))
        sp = float(rng.choice([0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95]))
        while n_in * n_out * (1 - sp) > 200:
            n_out //= 2
        specs.append({"n_in": n_in, "n_out": max(n_out, 1), "x_bits": int(rng.choice(grid_bits)),
                      "w_bits": int(rng.choice(grid_bits)), "sparsity": sp, "seed": k,
                      "dsp_mode": "nodsp"})
    for k, (xb, wb) in enumerate([(12, 12), (16, 12), (16, 16), (14, 11)]):
        specs.append({"n_in": 4, "n_out": 2, "x_bits": xb, "w_bits": wb, "sparsity": 0.25,
                      "seed": 100 + k, "dsp_mode": "dsp"})
    return specs


def spec_graph(s: dict):
    return dense_graph(s["n_in"], s["n_out"], s["x_bits"], s["w_bits"], s["sparsity"], s["seed"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results.csv"))
    args = ap.parse_args()
    tool = yosys_command()[0][0].rsplit("/", 1)[-1]
    specs = design_specs()[: args.limit or None]
    rows = []
    for k, s in enumerate(specs):
        g = spec_graph(s)
        t0 = time.perf_counter()
        r, _ = synth_graph(g, dsp=s["dsp_mode"] == "dsp", jobs=args.jobs, progress=lambda m: None)
        print(f"[{k + 1}/{len(specs)}] {g.name} {s['dsp_mode']}: {r.lut} LUT {r.ff} FF {r.dsp} DSP "
              f"depth {r.depth} ({time.perf_counter() - t0:.1f} s)", flush=True)
        rows.append({**s, "name": g.name, **{f: getattr(r, f) for f in
                     ("lut", "ff", "carry", "dsp", "muxf", "depth", "seconds")}, "tool": tool})
        _write(Path(args.out), rows)
    return 0


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
