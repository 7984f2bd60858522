"""Calibration data shipped in the package, the fit/test split, and out-of-sample error."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hwai.estimate import Coefficients, estimate
from hwai.estimate.calibration import MIN_LUT, RESULTS, features, load_results, out_of_sample, row_graph, select
from hwai.ir.graph import Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.target import Target

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_calibration_data_ships_inside_the_package():
    assert "hwai/estimate/data" in str(RESULTS).replace("\\", "/")
    rows = load_results()
    models = select(rows, kind="mlp")
    assert len(models) >= 10 and select(rows, "test", "mlp") and select(rows, "fit", "mlp")
    assert all(r["split"] in ("fit", "test") for r in rows)
    # varied: depth, widths, bits and sparsity
    assert len({r["sizes"].count("-") for r in models}) >= 2
    for key in ("x_bits", "w_bits", "act_bits", "sparsity"):
        assert len({r[key] for r in models}) >= 3, key


def test_rows_rebuild_their_graphs_deterministically():
    r = select(load_results(), "test", "mlp")[0]
    g1, g2 = row_graph(r), row_graph(r)
    assert g1.name == r["name"] and len(g1.nodes_of("dense")) == r["sizes"].count("-")
    w1 = [np.asarray(n.attrs["weight"]) for n in g1.nodes_of("dense")]
    assert all(np.array_equal(a, np.asarray(n.attrs["weight"])) for a, n in zip(w1, g2.nodes_of("dense")))


def test_out_of_sample_error_of_shipped_coefficients():
    res = out_of_sample()
    test = res["test"]
    assert test["designs"] >= 20 and res["test_models"]["designs"] >= 8
    assert test["lut_median_rel_err"] <= 0.10, test
    assert test["lut_p90_rel_err"] <= 0.20, test        # measured 16.0 %
    assert test["ff_median_rel_err"] <= 0.10, test
    assert test["dsp_designs"] >= 6 and test["dsp_exact"] == test["dsp_designs"]
    assert test["nodsp_designs_est_dsp"] == 0


def test_shipped_coefficients_are_the_fit_of_the_fit_split_only():
    sys.path.insert(0, str(ROOT / "calibration"))
    try:
        from fit import fit_rel
    finally:
        sys.path.remove(str(ROOT / "calibration"))
    rows = [r for r in select(load_results(), "fit") if r["dsp_mode"] == "nodsp" and r["lut"] >= MIN_LUT]
    f = np.array([features(r) for r in rows])
    a, b = fit_rel(f[:, :2], np.array([r["lut"] for r in rows]))
    (c,) = fit_rel(f[:, 2:3], np.array([r["ff"] for r in rows]))
    shipped = Coefficients.fitted()
    assert "fit split" in shipped.source
    np.testing.assert_allclose([a, b, c], [shipped.lut_per_add_bit, shipped.lut_per_cast_bit,
                                           shipped.ff_per_reg_bit], atol=1e-4)


def _dense(w, relu=True):
    w = np.asarray(w, dtype=np.int64)
    d = Node("d", "dense", ("x",), ("y",), {"weight": w, "weight_type": FixedType(6, 1),
                                            "bias": np.zeros(w.shape[1], dtype=np.int64),
                                            "bias_type": FixedType(6, 1), "accum_type": None})
    layers = [(d, Tensor("y", (w.shape[1],)))]
    if relu:
        act = FixedType(8, 3, signed=False, rounding="RND", overflow="SAT")
        layers.append((Node("r", "relu", ("y",), ("a",)), Tensor("a", (w.shape[1],), act)))
    g = chain("t", Tensor("x", (w.shape[0],), FixedType(8, 3, signed=False)), layers)
    return estimate(infer_precision(g), Target(), Coefficients()).per_node["d"]


def test_neurons_a_relu_always_zeroes_cost_no_adders_or_registers():
    # unsigned inputs: column 1 has only negative weights, so its sum is never > 0
    live, dead = _dense([[3, 5], [5, 7]]), _dense([[3, -5], [5, -7]])
    assert 0 < dead.lut < live.lut and 0 < dead.ff < live.ff
    assert dead.lut == _dense([[3, 0], [5, 0]]).lut         # as if the column were all zeros
    assert _dense([[3, -5], [5, -7]], relu=False).lut == live.lut   # no relu: the sum is used
