"""Synthesize the calibration designs with Yosys; results in hwai/estimate/data/results.csv.

Usage (repo root):  PYTHONPATH=. python calibration/run.py [--limit N] [--jobs 2]

Two kinds of design, both rebuilt deterministically from their CSV row
(:func:`hwai.estimate.calibration.row_graph`):

* ``layer``: one dense layer + ReLU (to ap_ufixed<8,3,RND,SAT>), :func:`dense_graph`;
* ``mlp``: a whole multi-layer model, :func:`mlp_graph`, synthesized per layer and summed
  (the way :func:`hwai.synth.synth_graph` synthesizes real designs).

Each spec carries its ``split``: ``fit`` rows are the only ones ``calibration/fit.py``
uses; ``test`` rows measure the estimator out of sample. Rows already in the CSV are
kept as they are (no resynthesis); Yosys results are also cached under ~/.cache/hwai/synth.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from hwai.estimate.calibration import RESULTS, row_graph
from hwai.synth.yosys import synth_graph, yosys_command

FIELDS = ["name", "kind", "sizes", "n_in", "n_out", "x_bits", "w_bits", "act_bits", "sparsity",
          "seed", "dsp_mode", "split", "lut", "ff", "carry", "dsp", "muxf", "depth", "seconds",
          "tool"]


def layer_specs() -> list[dict]:
    """40 single-layer designs spanning sizes, bit widths 2-16 and sparsity 0-95 %.

    Sizes keep non-zero weights <= ~200 (~5-30 s of synthesis each). Wide-operand designs
    run with DSPs so DSP exactness is tested; the rest with -nodsp. Every 4th -nodsp
    design and the DSP designs (no fitted coefficient touches DSPs) are test designs.
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
        specs.append(_layer(n_in, max(n_out, 1), int(rng.choice(grid_bits)),
                            int(rng.choice(grid_bits)), sp, k, "nodsp",
                            "test" if k % 4 == 3 else "fit"))
    for k, (xb, wb) in enumerate([(12, 12), (16, 12), (16, 16), (14, 11)]):
        specs.append(_layer(4, 2, xb, wb, 0.25, 100 + k, "dsp", "test"))
    return specs


def _layer(n_in: int, n_out: int, xb: int, wb: int, sp: float, seed: int, dsp_mode: str,
           split: str) -> dict:
    return {"kind": "layer", "sizes": f"{n_in}-{n_out}", "n_in": n_in, "n_out": n_out,
            "x_bits": xb, "w_bits": wb, "act_bits": 8, "sparsity": sp, "seed": seed,
            "dsp_mode": dsp_mode, "split": split}


def mlp_specs() -> list[dict]:
    """14 whole models (2-3 dense layers, 4-24 wide, 3-10 bit, 50-90 % zeros), every
    other one a test design, plus 2 wide-operand models with DSPs (test).

    Each layer keeps <= ~130 non-zero weights so a model synthesizes in ~0.5-1 min.
    """
    rng = np.random.default_rng(11)
    specs = []
    for k in range(14):
        sp = float(rng.choice([0.5, 0.6, 0.7, 0.8, 0.9]))
        depth = int(rng.choice([2, 3]))
        sizes = [int(rng.choice([8, 12, 16]))]
        sizes += [int(rng.choice([8, 12, 16, 24])) for _ in range(depth - 1)]
        sizes.append(int(rng.choice([2, 4, 5])))
        for i in range(1, len(sizes) - 1):
            while max(sizes[i - 1] * sizes[i], sizes[i] * sizes[i + 1]) * (1 - sp) > 130:
                sizes[i] -= 4
        specs.append(_mlp(sizes, int(rng.choice([4, 6, 8, 10])), int(rng.choice([3, 4, 5, 6, 8])),
                          int(rng.choice([4, 6, 8])), sp, 200 + k, "nodsp",
                          "test" if k % 2 else "fit"))
    specs.append(_mlp([4, 4, 2], 12, 12, 12, 0.25, 300, "dsp", "test"))
    specs.append(_mlp([6, 3, 2], 14, 11, 11, 0.25, 301, "dsp", "test"))
    return specs


def _mlp(sizes: list[int], xb: int, wb: int, ab: int, sp: float, seed: int, dsp_mode: str,
         split: str) -> dict:
    return {"kind": "mlp", "sizes": "-".join(map(str, sizes)), "n_in": sizes[0],
            "n_out": sizes[-1], "x_bits": xb, "w_bits": wb, "act_bits": ab, "sparsity": sp,
            "seed": seed, "dsp_mode": dsp_mode, "split": split}


def design_specs() -> list[dict]:
    return layer_specs() + mlp_specs()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    out = Path(args.out)
    tool = yosys_command()[0][0].rsplit("/", 1)[-1]
    specs = design_specs()[: args.limit or None]
    have = _existing(out)
    rows = []
    for k, s in enumerate(specs):
        g = row_graph(s)
        key = (g.name, s["dsp_mode"])
        if key in have:
            rows.append({**have[key], **s, "name": g.name})
            continue
        t0 = time.perf_counter()
        r, _ = synth_graph(g, dsp=s["dsp_mode"] == "dsp", jobs=args.jobs,
                           progress=lambda m: print(f"    {m}", flush=True))  # per-part heartbeat
        print(f"[{k + 1}/{len(specs)}] {g.name} {s['dsp_mode']}: {r.lut} LUT {r.ff} FF {r.dsp} DSP "
              f"depth {r.depth} ({time.perf_counter() - t0:.1f} s)", flush=True)
        rows.append({**s, "name": g.name, **{f: getattr(r, f) for f in
                     ("lut", "ff", "carry", "dsp", "muxf", "depth", "seconds")}, "tool": tool})
        _write(out, rows)  # after every design: an interrupted run keeps what it did
    _write(out, rows)
    return 0


def _existing(path: Path) -> dict[tuple[str, str], dict]:
    """Rows already synthesized, by (design name, dsp mode)."""
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {(r["name"], r["dsp_mode"]): r for r in csv.DictReader(fh)}


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    sys.exit(main())
