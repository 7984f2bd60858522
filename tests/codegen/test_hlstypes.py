"""hls_type: the one printer of HLS C++ types."""

from __future__ import annotations

import pytest

from hwai.codegen.hlstypes import ap_int_type, c_int_type, hls_type
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType

pytestmark = pytest.mark.unit


def test_default_modes_print_short_form() -> None:
    assert hls_type(FixedType(16, 6)) == "ap_fixed<16,6>"
    assert hls_type(FixedType(6, 0, signed=False)) == "ap_ufixed<6,0>"
    assert hls_type(FixedType(4, 8)) == "ap_fixed<4,8>"          # integer > width is legal
    assert hls_type(FixedType(8, -2, signed=False)) == "ap_ufixed<8,-2>"


def test_examples_from_the_spec() -> None:
    assert hls_type(FixedType(16, 6, True, "RND_CONV", "SAT")) == "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
    assert hls_type(FixedType(6, 0, False, "RND_CONV", "SAT")) == "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("signed", [True, False])
def test_every_mode(rounding: str, overflow: str, signed: bool) -> None:
    text = hls_type(FixedType(12, 4, signed, rounding, overflow))
    kind = "ap_fixed" if signed else "ap_ufixed"
    if (rounding, overflow) == ("TRN", "WRAP"):
        assert text == f"{kind}<12,4>"
    else:  # overflow is positional after rounding, so both are printed
        assert text == f"{kind}<12,4,AP_{rounding},AP_{overflow}>"


def test_non_default_overflow_forces_rounding() -> None:
    assert hls_type(FixedType(8, 3, True, "TRN", "SAT")) == "ap_fixed<8,3,AP_TRN,AP_SAT>"
    assert hls_type(FixedType(8, 3, True, "RND", "WRAP")) == "ap_fixed<8,3,AP_RND,AP_WRAP>"


def test_plain_integer_types() -> None:
    assert c_int_type(1) == "int8_t"
    assert c_int_type(9, signed=False) == "uint16_t"
    assert c_int_type(33) == "int64_t"
    with pytest.raises(ValueError):
        c_int_type(65)
    assert ap_int_type(7) == "ap_int<7>"
    assert ap_int_type(7, signed=False) == "ap_uint<7>"
