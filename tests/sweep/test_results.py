"""The sweep's choice: the cheapest front point within the noise of the best physics."""

from __future__ import annotations

import math

import pytest

from hwai.sweep.results import chosen, chosen_rule, tolerance

pytestmark = pytest.mark.unit


def _row(trial: str, physics: float, cost: float, n: int = 40000, **kw) -> dict:
    return {"trial": trial, "method": "m", "physics": physics, "cost": cost, "feasible": True,
            "finished": True, "n_events": n, **kw}


ROWS = [_row("small", 0.7200, 2000.0), _row("mid", 0.7370, 15000.0), _row("big", 0.7385, 30000.0),
        _row("over", 0.7500, 90000.0, feasible=False), _row("cut", 0.7600, 1000.0, stopped_early=True)]


def test_one_standard_error_of_the_best_accuracy() -> None:
    se = math.sqrt(0.7385 * 0.2615 / 40000)
    assert tolerance(ROWS[2], "accuracy", None) == pytest.approx(se)   # 0.0022: 'mid' is within it
    assert chosen(ROWS, "accuracy", None)["trial"] == "mid"
    assert "one standard error on 40,000 test events" in chosen_rule(ROWS, "accuracy", None)


def test_a_smaller_test_set_widens_the_tie_and_a_larger_one_narrows_it() -> None:
    assert chosen([_row("mid", 0.7370, 15000.0, n=10**7), _row("big", 0.7385, 30000.0, n=10**7)],
                  "accuracy", None)["trial"] == "big"
    assert chosen([_row("a", 0.70, 1000.0, n=100), _row("b", 0.74, 30000.0, n=100)],
                  "accuracy", None)["trial"] == "a"   # 4 % is noise on 100 events


def test_within_set_by_the_recipe_and_other_metrics_pick_the_exact_best() -> None:
    assert chosen(ROWS, "accuracy", 0.0)["trial"] == "big"
    assert chosen(ROWS, "accuracy", 0.02)["trial"] == "small"
    assert tolerance(ROWS[2], "macro_auc", None) == 0.0
    assert chosen(ROWS, "macro_auc", None)["trial"] == "big"
    assert chosen([], "accuracy", None) is None
