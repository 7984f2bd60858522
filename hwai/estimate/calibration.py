"""Estimator vs. synthesis: features for fitting, and the error report.

The calibration data (``hwai/estimate/data/results.csv``, shipped in the package and read
with importlib.resources) holds Yosys ``synth_xilinx`` results of the designs listed in
``calibration/run.py``: single dense layers (``kind=layer``) and whole multi-layer models
(``kind=mlp``, synthesized per layer). Each row's graph is rebuilt deterministically from
its parameters, so only the measurements are stored. Each row's ``split`` says whether
the coefficients were fitted on it (``fit``) or it measures out-of-sample error (``test``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from hwai.estimate.cost import Coefficients, estimate
from hwai.estimate.designs import dense_graph, mlp_graph
from hwai.ir.graph import Graph
from hwai.target import Target

RESULTS = resources.files("hwai.estimate") / "data" / "results.csv"
TEXT_FIELDS = ("name", "kind", "sizes", "dsp_mode", "split", "tool")


def load_results(path: str | Path | None = None) -> list[dict]:
    """Rows of the calibration CSV with numeric fields converted."""
    src = Path(path) if path else RESULTS
    if not src.is_file():
        raise FileNotFoundError(f"no calibration data at {src}; run calibration/run.py first")
    reader = csv.DictReader(io.StringIO(src.read_text()))
    return [{k: (v if k in TEXT_FIELDS else float(v)) for k, v in r.items()} for r in reader]


def row_graph(r: dict) -> Graph:
    """The design a calibration row (or spec) was synthesized from."""
    sp, seed = float(r["sparsity"]), int(r["seed"])
    if r.get("kind", "layer") == "layer":
        return dense_graph(int(r["n_in"]), int(r["n_out"]), int(r["x_bits"]), int(r["w_bits"]),
                           sp, seed)
    sizes = [int(v) for v in str(r["sizes"]).split("-")]
    name = f"m{'x'.join(map(str, sizes))}_x{int(r['x_bits'])}_w{int(r['w_bits'])}" \
           f"_a{int(r['act_bits'])}_s{int(round(sp * 100))}"
    return mlp_graph(sizes, x_bits=int(r["x_bits"]), w_bits=int(r["w_bits"]),
                     act_bits=int(r["act_bits"]), sparsity=sp, seed=seed, name=name)


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


def error_summary(rows: list[dict], coeffs: Coefficients | None = None) -> dict[str, float]:
    """Median / 90th-percentile |relative error| of LUT and FF over ``rows`` (those with
    >= MIN_LUT LUTs), and DSP exactness on the rows synthesized with DSPs."""
    e = errors(rows, coeffs)
    big = np.array([r["lut"] >= MIN_LUT for r in rows], dtype=bool)
    abs_lut, abs_ff = np.abs(e["lut_rel"][big]), np.abs(e["ff_rel"][big])
    dsp_rows = e["dsp_syn"] >= 0

    def pct(v: np.ndarray, q: float) -> float:
        return round(float(np.percentile(v, q)), 4) if v.size else float("nan")
    return {"designs": len(rows), "designs_in_rel_err": int(big.sum()),
            "lut_median_rel_err": pct(abs_lut, 50), "lut_p90_rel_err": pct(abs_lut, 90),
            "lut_bias": pct(e["lut_rel"][big], 50),
            "ff_median_rel_err": pct(abs_ff, 50), "ff_p90_rel_err": pct(abs_ff, 90),
            "dsp_designs": int(dsp_rows.sum()),
            "dsp_exact": int((e["dsp_est"][dsp_rows] == e["dsp_syn"][dsp_rows]).sum()),
            "nodsp_designs_est_dsp": int(e["dsp_est"][~dsp_rows].sum())}


def select(rows: list[dict], split: str | None = None, kind: str | None = None) -> list[dict]:
    """Rows of one split ('fit' / 'test') and/or kind ('layer' / 'mlp'); None = all."""
    return [r for r in rows if split in (None, r["split"]) and kind in (None, r["kind"])]


def out_of_sample(path: str | Path | None = None,
                  coeffs: Coefficients | None = None) -> dict[str, dict[str, float]]:
    """Error summaries on the test designs (all, whole models only) and on the fit set."""
    rows = load_results(path)
    return {"test": error_summary(select(rows, "test"), coeffs),
            "test_models": error_summary(select(rows, "test", "mlp"), coeffs),
            "fit": error_summary(select(rows, "fit"), coeffs)}


def error_report(path: str | Path | None = None, coeffs: Coefficients | None = None,
                 verbose: bool = True, split: str | None = "test",
                 kind: str | None = None) -> dict[str, float]:
    """Print and return :func:`error_summary` of one split/kind (default: the test set)."""
    summary = error_summary(select(load_results(path), split, kind), coeffs)
    if verbose:
        s = summary
        print(f"{split or 'all'} set{' (' + kind + ')' if kind else ''}: {s['designs']} designs "
              f"({s['designs_in_rel_err']} with >= {MIN_LUT} LUTs); coefficients: "
              f"{(coeffs or Coefficients.fitted()).source}")
        print(f"  LUT |rel err|: median {s['lut_median_rel_err']:.1%}, p90 {s['lut_p90_rel_err']:.1%}"
              f" (median signed {s['lut_bias']:+.1%})")
        print(f"  FF  |rel err|: median {s['ff_median_rel_err']:.1%}, p90 {s['ff_p90_rel_err']:.1%}")
        print(f"  DSP exact: {s['dsp_exact']}/{s['dsp_designs']} designs with DSPs enabled")
    return summary
