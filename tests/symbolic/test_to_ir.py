"""sympy -> IR: constants, LUT specs, errors for what the expr op cannot represent."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType
from hwai.symbolic.to_ir import expressions_to_graph, lut_spec, quantize_constant

sympy = pytest.importorskip("sympy")
TIN = FixedType(12, 4)


def test_quantize_constant_drops_trailing_zero_bits():
    assert quantize_constant(0.5, 18) == (1, 1)
    assert quantize_constant(3.0, 18) == (3, 0)
    code, frac = quantize_constant(-0.3, 18)
    assert abs(code * 2.0 ** -frac + 0.3) <= 2.0 ** -18 and frac == 16  # 18 bits: 17 fractional, one dropped
    assert quantize_constant(0.0, 18) == (0, 0)


def test_lut_spec_power_of_two_span():
    spec = lut_spec((-2048, 2047, 8), TIN, (-4.0, 4.0), 1024)
    assert spec == {"lo": -1024, "shift": 1, "size": 1024}
    small = lut_spec((0, 15, 8), TIN, None, 1024)     # fewer codes than entries
    assert small == {"lo": 0, "shift": 0, "size": 16}


def test_unsupported_expressions_raise():
    x0, x1 = sympy.symbols("x0 x1")
    with pytest.raises(UnsupportedLayerError, match="x7"):
        expressions_to_graph([x0 + sympy.Symbol("x7")], TIN, 2)
    with pytest.raises(UnsupportedLayerError, match="unary"):
        expressions_to_graph([x0 ** x1], TIN, 2)


def test_calibration_sets_lut_range():
    x0 = sympy.Symbol("x0")
    calib = np.linspace(-1, 1, 101)[:, None]
    g = expressions_to_graph([sympy.exp(x0)], TIN, 1, {"lut": {"size": 64}}, calib_x=calib)
    lut = g.node("sr").attrs["program"][1]
    assert lut["op"] == "lut" and lut["lo"] == -256   # -1.0 at 8 fractional bits
    span = 64 << lut["shift"]
    assert span == 1024      # [-1, 1] inclusive is 513 codes: the next power of two


def test_common_subexpressions_are_shared():
    x0, x1 = sympy.symbols("x0 x1")
    g = expressions_to_graph([sympy.sin(x0 * x1), sympy.sin(x0 * x1) + x0], TIN, 2)
    ops = [i["op"] for i in g.node("sr").attrs["program"]]
    assert ops.count("lut") == 1 and ops.count("mul") == 1
