"""Estimator vs. synthesis: features for fitting, and the error report.

The calibration data (``calibration/results.csv``) holds Yosys ``synth_xilinx`` results
of the designs listed in ``calibration/run.py``; each row's graph is rebuilt
deterministically from its parameters, so only the measurements are stored.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwai.estimate.cost import Coefficients, estimate
from hwai.estimate.designs import dense_graph
from hwai.target import Target

RESULTS = Path(__file__).resolve().parents[2] / "calibration" / "results.csv"


def load_results(path: str | Path | None = None) -> list[dict]:
    """Rows of the calibration CSV with numeric fields converted."""
    p = Path(path) if path else RESULTS
    if not p.exists():
        raise FileNotFoundError(f"no calibration data at {p}; run calibration/run.py first")
    rows = []
    with open(p, newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append({k: (v if k in ("name", "dsp_mode", "tool") else float(v)) for k, v in r.items()})
    return rows


def row_graph(r: dict):
    return dense_graph(int(r["n_in"]), int(r["n_out"]), int(r["x_bits"]), int(r["w_bits"]),
                       float(r["sparsity"]), int(r["seed"]))


# The calibration designs are emitted with one register stage per layer; a slow clock
# makes the estimator's latency model agree (1 cycle) so FF counts are comparable.
CAL_TARGET = Target(clock_period_ns=1000.0)
MIN_LUT = 20  # rows below this many synthesized LUTs: relative error is noise, excluded


def row_coeffs(r: dict, c: Coefficients) -> Coefficients:
    """-nodsp rows were synthesized without DSPs: estimate them with the DSP rule off."""
    return c if r["dsp_mode"] == "dsp" else replace(c, dsp_min_bits=10**6)


def features(r: dict, base: Coefficients | None = None) -> tuple[float, float, float]:
    """(adder bits, cast bits, register bits) of a row's design: the estimate evaluated
    with unit coefficients, so LUT = a*adder + b*cast and FF = c*reg are linear in them."""
    c = row_coeffs(r, base or Coefficients())
    g, t = row_graph(r), CAL_TARGET
    add = estimate(g, t, replace(c, lut_per_add_bit=1.0, add_width_frac=1.0, lut_per_cast_bit=0.0))
    cast = estimate(g, t, replace(c, lut_per_add_bit=0.0, lut_per_cast_bit=1.0))
    reg = estimate(g, t, replace(c, ff_per_reg_bit=1.0))
    return add.total.lut, cast.total.lut, reg.total.ff


def errors(rows: list[dict], coeffs: Coefficients | None = None) -> dict[str, np.ndarray]:
    """Per-row relative LUT/FF errors (est - synth) / synth and DSP (est, synth) pairs."""
    c = coeffs or Coefficients.fitted()
    est = [estimate(row_graph(r), CAL_TARGET, row_coeffs(r, c)).total for r in rows]
    lut = np.array([r["lut"] for r in rows])
    ff = np.array([r["ff"] for r in rows])
    return {"lut_rel": (np.array([e.lut for e in est]) - lut) / np.maximum(lut, 1),
            "ff_rel": (np.array([e.ff for e in est]) - ff) / np.maximum(ff, 1),
            "dsp_est": np.array([e.dsp for e in est]),
            "dsp_syn": np.array([r["dsp"] if r["dsp_mode"] == "dsp" else -1 for r in rows])}


def error_report(path: str | Path | None = None, coeffs: Coefficients | None = None,
                 verbose: bool = True) -> dict[str, float]:
    """Print and return median / 90th-percentile |relative LUT error| and DSP exactness."""
    rows = load_results(path)
    e = errors(rows, coeffs)
    big = np.array([r["lut"] >= MIN_LUT for r in rows])
    abs_lut, abs_ff = np.abs(e["lut_rel"][big]), np.abs(e["ff_rel"][big])
    dsp_rows = e["dsp_syn"] >= 0
    summary = {
        "designs": len(rows),
        "designs_in_rel_err": int(big.sum()),
        "lut_median_rel_err": float(np.median(abs_lut)),
        "lut_p90_rel_err": float(np.percentile(abs_lut, 90)),
        "lut_bias": float(np.median(e["lut_rel"][big])),
        "ff_median_rel_err": float(np.median(abs_ff)),
        "dsp_designs": int(dsp_rows.sum()),
        "dsp_exact": int((e["dsp_est"][dsp_rows] == e["dsp_syn"][dsp_rows]).sum()),
        "nodsp_designs_est_dsp": int(e["dsp_est"][~dsp_rows].sum()),
    }
    if verbose:
        print(f"designs: {summary['designs']} ({summary['designs_in_rel_err']} with >= {MIN_LUT} LUTs "
              f"in the relative errors); coefficients: {(coeffs or Coefficients.fitted()).source}")
        print(f"LUT |rel err|: median {summary['lut_median_rel_err']:.1%}, "
              f"p90 {summary['lut_p90_rel_err']:.1%} (median signed {summary['lut_bias']:+.1%})")
        print(f"FF  |rel err|: median {summary['ff_median_rel_err']:.1%}")
        print(f"DSP exact: {summary['dsp_exact']}/{summary['dsp_designs']} designs with DSPs enabled")
    return summary
