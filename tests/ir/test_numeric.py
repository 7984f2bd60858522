"""The one module of fixed-point rules: every rule checked against FixedType semantics."""

import itertools
import re
from importlib import resources

import numpy as np
import pytest

from hwai.ir import numeric
from hwai.ir.expr import program_intervals
from hwai.ir.numeric import (DEFAULT_TYPE, FIXED_DEFAULTS, Overflow, Rounding, accum_is_modular,
                             cast_interval, cast_interval_scalar, fixed_from_dict, range_bits, rtl_codes,
                             signed_bits, type_for_range)
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType, requantize

pytestmark = pytest.mark.unit


def brute(lo: int, hi: int, frac: int, to: FixedType) -> tuple[int, int]:
    q = requantize(np.arange(lo, hi + 1, dtype=np.int64), frac, to)
    return int(q.min()), int(q.max())


def test_sat_zero_cast_interval_is_one_answer() -> None:
    """The bug: ir/expr.py said (-32, 31), passes/precision.py (0, 31). SAT_ZERO maps an
    overflow to 0, so casting [0, 200] gives codes 0..31 only."""
    to = FixedType(6, 6, True, "TRN", "SAT_ZERO")
    assert brute(0, 200, 0, to) == (0, 31)
    assert cast_interval_scalar((0, 200, 0), to) == (0, 31, 0)
    lo, hi, f = cast_interval((np.array([0], dtype=object), np.array([200], dtype=object), 0), to)
    assert (int(lo[0]), int(hi[0]), f) == (0, 31, 0)
    # the expr op's interval analysis goes through the same rule
    prog = [{"op": "input", "index": 0}]
    assert program_intervals(prog, [to], [], [(0, 200, 0)]) == [(0, 200, 0)]
    const = {"op": "const", "code": 0, "type": FixedType(9, 9)}
    add = {"op": "add", "args": [0, 1], "type": to}
    ivs = program_intervals(prog + [const, add], [FixedType(9, 9), FixedType(9, 9), to], [], [(0, 200, 0)])
    assert ivs[-1] == (0, 31, 0)


@pytest.mark.parametrize("rounding,overflow", list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)))
def test_cast_interval_sound_and_tight(rounding: str, overflow: str) -> None:
    """Every reachable code lies inside; without possible wrap the ends are reached."""
    rng = np.random.default_rng(len(rounding) * 7 + len(overflow))
    for _ in range(40):
        to = FixedType(int(rng.integers(2, 7)), int(rng.integers(-2, 5)), bool(rng.integers(0, 2)),
                       rounding, overflow)
        frac = int(rng.integers(-1, 5))
        lo = int(rng.integers(-300, 300))
        hi = lo + int(rng.integers(0, 300))
        blo, bhi = brute(lo, hi, frac, to)
        clo, chi, cf = cast_interval_scalar((lo, hi, frac), to)
        assert cf == to.frac and clo <= blo and bhi <= chi, (to, lo, hi, frac)
        if overflow in ("SAT", "SAT_SYM") or (clo, chi) != (to.qmin, to.qmax):
            if overflow != "SAT_ZERO":
                assert (clo, chi) == (blo, bhi), (to, lo, hi, frac)


def test_signed_and_range_bits_match_brute_force() -> None:
    for lo in range(-70, 70):
        for hi in range(lo, 70):
            want = next(b for b in range(1, 12) if -(1 << (b - 1)) <= lo and hi < (1 << (b - 1)))
            assert signed_bits(lo, hi) == want
            assert range_bits(lo, hi) == (want if lo < 0 else max(hi, 0).bit_length())
    assert signed_bits(-8, -8) == 4 and type_for_range(-8, -8, 0).width == 4
    assert type_for_range(0, 255, 3, force_signed=False) == FixedType(8, 5, False)


def test_accumulator_exactness_rule() -> None:
    ta = FixedType(20, 8)
    assert accum_is_modular(ta, 12, 10)
    assert not accum_is_modular(ta, 13, 10)                       # products would be rounded
    assert not accum_is_modular(ta.with_modes(overflow="SAT"), 12, 10)


def test_dict_to_type_defaults_are_the_schema_ones() -> None:
    """The bug: {width: 8, integer: 3} was TRN/WRAP in the Keras engine, RND_CONV/SAT in
    the torch engine and a KeyError in recipe/steps.py. Now one function, one answer."""
    from hwai.recipe.schema import FIXED

    want = FixedType(8, 3, True, "RND_CONV", "SAT")
    assert fixed_from_dict({"width": 8, "integer": 3}) == want
    assert fixed_from_dict({"width": 8, "integer": 3, "signed": None, "rounding": None}) == want
    assert fixed_from_dict({"width": 8, "integer": 3, "overflow": "WRAP"}) == want.with_modes(overflow="WRAP")
    assert fixed_from_dict(None, DEFAULT_TYPE) is DEFAULT_TYPE and fixed_from_dict({"width": None}) is None
    assert fixed_from_dict(want) is want
    assert {k: FIXED[k].default for k in FIXED_DEFAULTS} == FIXED_DEFAULTS
    assert DEFAULT_TYPE == FixedType(16, 6, True, "RND_CONV", "SAT")
    with pytest.raises(ValueError, match="integer"):
        fixed_from_dict({"width": 8})


def test_every_dict_to_type_caller_uses_the_one_function() -> None:
    import hwai.engines.keras as keras_engine
    import hwai.engines.torch as torch_engine
    import hwai.recipe.steps as steps
    import hwai.symbolic.step as sym_step

    for mod in (keras_engine, torch_engine, steps, sym_step):
        assert mod.fixed_from_dict is numeric.fixed_from_dict


def test_rtl_codes_are_the_localparams_of_hwai_cast() -> None:
    """The Verilog parameter is a documented code, read back from the template here."""
    text = (resources.files("hwai") / "templates" / "verilog" / "hwai_cast.v").read_text()
    params = {m[0]: int(m[1]) for m in re.findall(r"\b((?:RM|OM)_[A-Z_]+)\s*=\s*(\d+)", text)}
    want = {f"RM_{m.name}": m.value for m in Rounding} | {f"OM_{m.name}": m.value for m in Overflow}
    assert params == want
    for m in Rounding:   # every code has its own branch in the module
        assert f"(RM == RM_{m.name})" in text
    assert rtl_codes(FixedType(8, 3, True, "RND_INF", "SAT_SYM")) == {"RM": 5, "OM": 3}
    assert ROUNDING_MODES == tuple(m.name for m in Rounding)
