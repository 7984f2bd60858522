"""FixedType / requantize against hand-worked ap_fixed cases (verified once against g++ + ap_types)."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.ir.numeric import type_for_range
from hwai.ir.types import FixedType, frac_bits_needed, requantize

MODES = ["TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV"]
# value -> expected integer after casting to ap_fixed<8,8,MODE> for MODES in order
ROUNDING = {
    2.5: [2, 2, 3, 2, 2, 3, 2],
    -2.5: [-3, -2, -2, -2, -3, -3, -2],
    3.5: [3, 3, 4, 3, 3, 4, 4],
    -3.5: [-4, -3, -3, -3, -4, -4, -4],
    2.25: [2, 2, 2, 2, 2, 2, 2],
    -2.25: [-3, -2, -2, -2, -2, -2, -2],
    2.75: [2, 2, 3, 3, 3, 3, 3],
    -2.75: [-3, -2, -3, -3, -3, -3, -3],
}
# integer -> ap_fixed<4,4,TRN,{WRAP,SAT,SAT_ZERO,SAT_SYM}>, then ap_ufixed<3,3,TRN,{WRAP,SAT,SAT_SYM}>
OVERFLOW = {
    9: ([-7, 7, 0, 7], [1, 7, 7]),
    -9: ([7, -8, 0, -7], [7, 0, 0]),
    -8: ([-8, -8, -8, -7], [0, 0, 0]),
    7: ([7, 7, 7, 7], [7, 7, 7]),
    8: ([-8, 7, 0, 7], [0, 7, 7]),
    -16: ([0, -8, 0, -7], [0, 0, 0]),
    17: ([1, 7, 0, 7], [1, 7, 7]),
}


@pytest.mark.parametrize("value", sorted(ROUNDING))
def test_rounding_modes_match_hand_worked_ap_fixed(value: float) -> None:
    q = np.array([int(value * 4)])
    got = [int(requantize(q, 2, FixedType(8, 8, True, m))[0]) for m in MODES]
    assert got == ROUNDING[value]
    got_float = [int(FixedType(8, 8, True, m).from_float(np.array([value]))[0]) for m in MODES]
    assert got_float == ROUNDING[value]


@pytest.mark.parametrize("value", sorted(OVERFLOW))
def test_overflow_modes_match_hand_worked_ap_fixed(value: int) -> None:
    signed, unsigned = OVERFLOW[value]
    q = np.array([value])
    assert [int(requantize(q, 0, FixedType(4, 4, True, "TRN", o))[0])
            for o in ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")] == signed
    assert [int(requantize(q, 0, FixedType(3, 3, False, "TRN", o))[0])
            for o in ("WRAP", "SAT", "SAT_SYM")] == unsigned


def test_round_then_overflow_order() -> None:
    # 7.75 rounds up to 8, which then overflows ap_fixed<4,4>: SAT gives 7, WRAP gives -8.
    q = np.array([31])  # 7.75 with 2 fractional bits
    assert requantize(q, 2, FixedType(4, 4, True, "RND", "SAT"))[0] == 7
    assert requantize(q, 2, FixedType(4, 4, True, "RND", "WRAP"))[0] == -8


def test_left_shift_is_exact_and_negative_frac_types() -> None:
    t = FixedType(4, 8)  # ap_fixed<4,8>: lsb = 16, range -128..112
    assert t.frac == -4 and t.lsb == 16.0 and t.max_value == 112.0
    assert requantize(np.array([3]), 0, FixedType(10, 4))[0] == 3 * 64
    assert requantize(np.array([40]), 0, t)[0] == 2  # 40/16 = 2.5 -> TRN 2


def test_properties_and_roundtrip() -> None:
    t = FixedType(6, 1, True, "RND_CONV", "SAT")
    assert (t.qmin, t.qmax, t.frac) == (-32, 31, 5)
    assert t.min_value == -1.0 and t.max_value == 31 / 32
    assert FixedType.from_dict(t.to_dict()) == t
    u = FixedType(6, 0, False)
    assert (u.qmin, u.qmax) == (0, 63)


def test_type_for_range_is_minimal() -> None:
    assert type_for_range(-5, 5, 0) == FixedType(4, 4, True)
    assert type_for_range(0, 255, 3, force_signed=False) == FixedType(8, 5, False)
    assert type_for_range(-128, 127, 2) == FixedType(8, 6, True)
    assert type_for_range(-129, 0, 0).width == 9


def test_frac_bits_needed() -> None:
    assert frac_bits_needed(np.array([0.5, -0.25, 0.125])) == 3
    assert frac_bits_needed(np.array([4.0, 8.0])) == -2
    assert frac_bits_needed(np.zeros(3)) == 0
    with pytest.raises(ValueError, match="power-of-two"):
        frac_bits_needed(np.array([0.1]), max_frac=24)  # callers bound it by the quantizer width


def test_wide_values_use_python_ints() -> None:
    big = np.array([1 << 40], dtype=np.int64)
    out = requantize(big, 0, FixedType(80, 80))
    assert int(out[0]) == 1 << 40
    shifted = requantize(big, 0, FixedType(80, 50))  # 30 fractional bits: exceeds int64
    assert int(shifted[0]) == 1 << 70


def test_invalid_modes_rejected() -> None:
    with pytest.raises(ValueError, match="rounding"):
        FixedType(8, 3, rounding="NEAREST")
    with pytest.raises(ValueError, match="overflow"):
        FixedType(8, 3, overflow="CLIP")


def test_grid_codes_reads_back_exact_values_only() -> None:
    t = FixedType(6, 2)  # lsb 1/16, range -2 .. 31/16
    codes, ok = t.grid_codes(np.array([0.0625, -2.0, 1.9375, 0.03, 2.0]))
    assert ok.tolist() == [True, True, True, False, False]
    assert codes[:3].tolist() == [1, -32, 31]
