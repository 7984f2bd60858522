"""Yosys stat/ltp parsing on captured logs (Yosys 0.70 via yowasp, Debian's 0.23)."""

from pathlib import Path

import pytest

from hwai.synth.parse import SynthResult, classify, parse_ltp, parse_stat_json, parse_stat_text

pytestmark = pytest.mark.unit
DATA = Path(__file__).parent / "data"


def test_stat_json_070():
    counts = parse_stat_json((DATA / "stat_yosys070.json").read_text(), "d16x16_x8_w6_s50_p0")
    r = classify(counts, depth=22)
    assert (r.lut, r.ff, r.carry, r.dsp, r.muxf) == (2556 + 27 + 105, 188, 845, 0, 0)
    assert r.cells == 3722 and r.depth == 22          # $scopeinfo is not a cell on the chip


def test_stat_text_both_layouts():
    new = parse_stat_text((DATA / "stat_yosys070.txt").read_text())
    assert new["LUT2"] == 2556 and new["CARRY4"] == 845 and "wires" not in new
    old = classify(parse_stat_text((DATA / "stat_yosys023.txt").read_text()))
    assert (old.lut, old.ff, old.carry, old.muxf) == (581 + 786 + 212 + 386 + 6766 + 34, 188, 170,
                                                      3174 + 1386 + 532)


def test_ltp_and_sum():
    assert parse_ltp((DATA / "ltp_yosys070.txt").read_text()) == 22
    assert parse_ltp("nothing here") == 0
    s = SynthResult(lut=1, ff=2, depth=5) + SynthResult(lut=3, dsp=1, depth=7)
    assert (s.lut, s.ff, s.dsp, s.depth) == (4, 2, 1, 7)
