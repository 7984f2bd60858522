"""Fit the estimator's LUT/FF coefficients to the fit split of hwai/estimate/data/results.csv.

Usage (repo root):  PYTHONPATH=. python calibration/fit.py

LUT = a * (adder bits) + b * (cast bits) and FF = c * (register bits), where the bit
counts are the estimator's own rules evaluated with unit coefficients
(:func:`hwai.estimate.calibration.features`). Fitted by least absolute *relative*
error (:func:`fit_rel`), with a, b, c >= 0, on the -nodsp designs of the
*fit* split only (DSP designs mix DSP and LUT logic; test designs are never seen).
Writes hwai/estimate/coefficients.json and prints fit- and test-set errors.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwai.estimate.calibration import MIN_LUT, error_report, features, load_results, select
from hwai.estimate.cost import Coefficients

OUT = Path(__file__).resolve().parents[1] / "hwai" / "estimate" / "coefficients.json"


def fit_rel(X: np.ndarray, y: np.ndarray, iters: int = 100) -> np.ndarray:
    """Non-negative k minimising Σ |X@k - y| / y (least *absolute* relative error, by
    iteratively reweighted least squares): the reported metrics are medians, and a
    squared loss lets a few rows the rules miss by 2-5x drag every coefficient."""
    k = np.ones(X.shape[1])
    for _ in range(iters):
        r = np.abs(X @ k - y) / np.maximum(y, 1.0)
        w = 1.0 / (np.maximum(y, 1.0) * np.sqrt(np.maximum(r, 1e-3)))
        k = _nnls(X * w[:, None], y * w)
    return k


def leave_one_out(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median and p90 |relative error| of each fit row predicted by a fit without it: how
    rule variants are compared without looking at the test designs."""
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        errs.append(abs(X[i] @ fit_rel(X[keep], y[keep]) - y[i]) / y[i])
    return float(np.median(errs)), float(np.percentile(errs, 90))


def _nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with negative coefficients clipped to 0 and the rest refitted
    (exact NNLS for the 1-2 coefficients fitted here)."""
    k, *_ = np.linalg.lstsq(A, b, rcond=None)
    if np.any(k < 0):
        keep = k > 0
        k = np.zeros_like(k)
        k[keep], *_ = np.linalg.lstsq(A[:, keep], b, rcond=None)
    return k


def main() -> None:
    rows = [r for r in select(load_results(), "fit") if r["dsp_mode"] == "nodsp" and r["lut"] >= MIN_LUT]
    f = np.array([features(r) for r in rows])
    lut = np.array([r["lut"] for r in rows])
    ff = np.array([r["ff"] for r in rows])
    a, b = fit_rel(f[:, :2], lut)
    (c,) = fit_rel(f[:, 2:3], ff)
    med, p90 = leave_one_out(f[:, :2], lut)
    print(f"LUT leave-one-out on the fit designs: median {med:.1%}, p90 {p90:.1%}")
    print("before (defaults):")
    error_report(coeffs=Coefficients(), split=None)
    fitted = replace(Coefficients(), lut_per_add_bit=round(float(a), 4), add_width_frac=1.0,
                     lut_per_cast_bit=round(float(b), 4), ff_per_reg_bit=round(float(c), 4),
                     source=f"fitted to {len(rows)} Yosys synth_xilinx designs (fit split of "
                            "hwai/estimate/data/results.csv)")
    OUT.write_text(json.dumps(fitted.to_dict(), indent=1, sort_keys=True) + "\n")
    print(f"\nafter (a={a:.3f} LUT/adder bit, b={b:.3f} LUT/cast bit, c={c:.3f} FF/reg bit):")
    for split, kind in (("fit", None), ("test", None), ("test", "mlp")):
        error_report(coeffs=fitted, split=split, kind=kind)


if __name__ == "__main__":
    main()
