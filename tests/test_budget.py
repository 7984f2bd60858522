"""Budget verdicts and the plain-text table."""

import pytest

from hwai.budget import check_budget
from hwai.estimate.cost import Cost, Estimate
from hwai.target import Target

pytestmark = pytest.mark.unit


def est(**kw):
    total = Cost(**kw)
    return Estimate({"n": total}, total, "test")


def test_within_and_over_budget():
    rep = check_budget(est(lut=900, dsp=3, latency_cycles=4), {"lut": 1000, "dsp": 2,
                                                               "latency_ns": 20}, Target())
    rows = {r.resource: r for r in rep.rows}
    assert rows["lut"].ok and rows["lut"].margin_pct == pytest.approx(10.0)
    assert not rows["dsp"].ok and rows["dsp"].margin_pct == pytest.approx(-50.0)
    assert rows["latency_ns"].used == 20.0 and rows["latency_ns"].ok  # 4 cycles x 5 ns
    assert not rep.ok and [r.resource for r in rep.failed] == ["dsp"]


def test_table_is_aligned_and_has_verdict():
    text = check_budget(est(lut=12345.5, ff=10), {"ff": 5, "lut": 20000}, Target()).table()
    lines = text.splitlines()
    assert lines[0].split() == ["resource", "used", "budget", "margin", "ok"]
    assert len({len(l) for l in lines[:4]}) == 1           # header, rule, 2 rows: same width
    assert lines[2].startswith("lut") and lines[3].startswith("ff")  # canonical order
    assert "OVER BUDGET" in lines[-1]


def test_unknown_key_and_dict():
    with pytest.raises(ValueError, match="lutz"):
        check_budget(est(), {"lutz": 1}, Target())
    d = check_budget(est(dsp=0), {"dsp": 0, "ii": 1}, Target()).to_dict()
    assert d["ok"] and d["rows"][0]["margin_pct"] == 0.0
