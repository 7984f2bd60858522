"""Pure helpers behind the report: the Pareto front and the estimate-vs-synth rows."""

from __future__ import annotations

from hwai.report.plots import pareto_front
from hwai.synth.flow import comparison


def test_pareto_front_keeps_only_non_dominated_points() -> None:
    pts = [(100, 0.70), (50, 0.60), (200, 0.72), (150, 0.65), (50, 0.55)]
    assert pareto_front(pts) == [(50, 0.60), (100, 0.70), (200, 0.72)]


def test_estimate_vs_synth_rows() -> None:
    rows = comparison({"lut": 110.0, "ff": 50.0, "dsp": 2}, {"lut": 100, "ff": 0, "dsp": 2})
    by = {r["resource"]: r for r in rows}
    assert by["lut"]["rel_error_pct"] == 10.0
    assert by["dsp"]["rel_error_pct"] == 0.0
    assert by["ff"]["rel_error_pct"] == float("inf")
