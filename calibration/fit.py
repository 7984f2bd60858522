"""Fit the estimator's LUT/FF coefficients to calibration/results.csv.

Usage (repo root):  PYTHONPATH=. python calibration/fit.py

LUT = a * (adder bits) + b * (cast bits) and FF = c * (register bits), where the bit
counts are the estimator's own rules evaluated with unit coefficients
(:func:`hwai.estimate.calibration.features`). Fitted by least squares on *relative*
error (each row weighted by 1/synth), with a, b, c >= 0, on the -nodsp designs (DSP
designs mix DSP and LUT logic). Writes hwai/estimate/coefficients.json and prints the
error report before and after.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwai.estimate.calibration import MIN_LUT, error_report, features, load_results
from hwai.estimate.cost import Coefficients

OUT = Path(__file__).resolve().parents[1] / "hwai" / "estimate" / "coefficients.json"


def nnls_rel(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares of X@k ~ y in relative terms, clipping negative coefficients to 0."""
    w = 1.0 / np.maximum(y, 1.0)
    k, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
    if np.any(k < 0):  # refit the positive ones only (2-3 coefficients: this is exact NNLS)
        keep = k > 0
        k = np.zeros_like(k)
        k[keep], *_ = np.linalg.lstsq(X[:, keep] * w[:, None], y * w, rcond=None)
    return k


def main() -> None:
    rows = [r for r in load_results() if r["dsp_mode"] == "nodsp" and r["lut"] >= MIN_LUT]
    f = np.array([features(r) for r in rows])
    lut = np.array([r["lut"] for r in rows])
    ff = np.array([r["ff"] for r in rows])
    a, b = nnls_rel(f[:, :2], lut)
    (c,) = nnls_rel(f[:, 2:3], ff)
    print("before (defaults):")
    error_report(coeffs=Coefficients())
    fitted = replace(Coefficients(), lut_per_add_bit=round(float(a), 4), add_width_frac=1.0,
                     lut_per_cast_bit=round(float(b), 4), ff_per_reg_bit=round(float(c), 4),
                     source=f"fitted to {len(rows)} Yosys synth_xilinx designs (calibration/results.csv)")
    OUT.write_text(json.dumps(fitted.to_dict(), indent=1, sort_keys=True) + "\n")
    print(f"\nafter (a={a:.3f} LUT/adder bit, b={b:.3f} LUT/cast bit, c={c:.3f} FF/reg bit):")
    error_report(coeffs=fitted)


if __name__ == "__main__":
    main()
