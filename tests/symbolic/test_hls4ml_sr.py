"""hls4ml's SymbolicExpression path: exact for polynomials, measured (not exact) for LUTs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType
from hwai.codegen.hls4ml_symbolic import lut_expressions, to_hls4ml_symbolic
from hwai.sim.hls4ml_symbolic import agreement
from hwai.symbolic.to_ir import expressions_to_graph

sympy = pytest.importorskip("sympy")
TIN = FixedType(14, 4, True, "RND", "SAT")


def test_unrepresentable_expressions_raise():
    x0, x1 = sympy.symbols("x0 x1")
    with pytest.raises(UnsupportedLayerError, match="division"):
        lut_expressions([x0 / x1])
    with pytest.raises(UnsupportedLayerError, match="erf"):
        lut_expressions([sympy.erf(x0)])
    exprs, used = lut_expressions([sympy.exp(x0) + sympy.sqrt(x1)])
    assert used == {"exp", "sqrt"} and "exp_lut" in str(exprs[0])


def _codes(n=4000):
    rng = np.random.default_rng(0)
    return np.concatenate([TIN.from_float(rng.uniform(-3, 3, (n, 3))),
                           rng.integers(TIN.qmin, TIN.qmax + 1, (n, 3))])


@pytest.mark.csim
@pytest.mark.slow
def test_polynomials_match_golden_exactly(tmp_path):
    pytest.importorskip("hls4ml")
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    x0, x1, x2 = sympy.symbols("x0:3")
    exprs = [x0 * x1 + 0.5, x0 - x2 * x1, 1.5 * x2 ** 2]
    # hls4ml computes each expression exactly and casts once into its precision (TRN, WRAP):
    # the golden model matches it when intermediates are uncapped and the output type is that.
    g = expressions_to_graph(exprs, TIN, 3, {"precision": {"width": 48, "integer": 20},
                                             "output": {"width": 18, "integer": 8,
                                                        "rounding": "TRN", "overflow": "WRAP"}})
    model = to_hls4ml_symbolic(exprs, TIN, tmp_path / "prj", precision=FixedType(18, 8), n_inputs=3)
    rep = agreement(model, g, _codes())
    assert rep["exact_fraction"] == 1.0 and rep["max_abs_diff"] == 0.0
