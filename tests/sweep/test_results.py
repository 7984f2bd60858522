"""The sweep's choice: the cheapest front point within the noise of the best physics."""

from __future__ import annotations

import math

import pytest

from hwai.sweep.results import chosen, chosen_rule, recommendation, shown_settings, tolerance

pytestmark = pytest.mark.unit


def _row(trial: str, physics: float, cost: float, n: int = 40000, **kw) -> dict:
    return {"trial": trial, "run_dir": f"trials/{trial}", "method": "m", "physics": physics, "cost": cost,
            "feasible": True, "finished": True, "n_events": n, **kw}


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


def test_recommendation_ranks_methods_like_the_chosen_point() -> None:
    rows = [{**_row("h1", 0.7379, 15919.0), "method": "hgq"}, {**_row("h2", 0.7380, 30000.0), "method": "hgq"},
            {**_row("q", 0.7382, 46748.0), "method": "quantize"}, {**_row("d", 0.7333, 13167.0), "method": "distill"}]
    table = recommendation(rows, "accuracy", None)
    assert [t["method"] for t in table] == ["hgq", "quantize", "distill"]
    assert table[0]["best_cost"] == 15919.0 and table[0]["tied"] and not table[2]["tied"]
    assert [t["method"] for t in recommendation(rows, "accuracy", 0.0)] == ["quantize", "hgq", "distill"]


def test_shown_settings_drop_what_the_methods_quantizer_does_not_read() -> None:
    from hwai.sweep.space import parse_search
    from tests.sweep.test_space import doc_with

    doc = doc_with(methods={"pq": ["train", "prune", "quantize"],
                            "hgq": ["train", {"quantize": {"method": "hgq"}}]},
                   space={"steps.quantize.beta": {"loguniform": [1e-7, 1e-5]},
                          "steps.quantize.bits": {"int": [3, 8]}, "steps.prune.sparsity": {"uniform": [0.5, 0.9]}})
    search = parse_search(doc, "r.yaml")
    values = {"steps.quantize.beta": 2e-6, "steps.quantize.bits": 4}
    assert shown_settings({"method": "hgq", "settings": values}, search, doc) == {"steps.quantize.beta": 2e-6}
    assert shown_settings({"method": "pq", "settings": values}, search, doc) == {"steps.quantize.bits": 4}
    assert shown_settings({"method": "pq", "settings": values}, search, None) == values   # no recipe: as recorded
