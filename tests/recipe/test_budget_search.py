"""The secant search of budget-driven heterogeneous QAT, on a synthetic cost model."""

from __future__ import annotations

import math

import pytest

from hwai.recipe.budget_search import Probe, SearchConfig, SearchFailed, next_beta, search

pytestmark = pytest.mark.unit


def _fake(trained: list, exponent: float = 0.8, scale: float = 5000.0):
    """cost = scale * (beta / 1e-5) ** -exponent (a power law, as measured); accuracy falls with beta."""
    def train(beta: float, epochs: int) -> dict:
        trained.append((beta, epochs))
        return {"beta": beta}

    def cost(m: dict) -> dict:
        lut = scale * (m["beta"] / 1e-5) ** -exponent
        return {"lut": lut, "ebops": lut * 0.6, "accuracy": 0.75 - 0.005 * math.log10(m["beta"] / 1e-8)}

    return train, cost


@pytest.mark.parametrize("limit", [1000, 2500, 6000, 40000])
@pytest.mark.parametrize("exponent", [0.5, 0.8, 1.5])
def test_the_search_lands_inside_the_budget_within_a_few_runs(limit: int, exponent: float) -> None:
    trained: list = []
    train, cost = _fake(trained, exponent)
    res = search(SearchConfig(limit=limit, probes=4, epochs=20), train, cost, log=lambda s: None)
    assert cost(res.model)["lut"] <= limit
    assert all(e == 20 for _, e in trained) and len(trained) <= 4
    chosen = [p for p in res.probes if p.chosen]
    assert len(chosen) == 1 and chosen[0].beta == res.beta
    assert chosen[0].cost >= 0.5 * limit          # not wastefully small


def test_the_most_accurate_fitting_run_is_kept_and_none_is_repeated() -> None:
    trained: list = []
    train, cost = _fake(trained)
    res = search(SearchConfig(limit=5000 * 0.5 ** -0.8 * 0.99, probes=3, epochs=5), train, cost, log=lambda s: None)
    fits = [p for p in res.probes if p.fits]
    assert res.beta == max(fits, key=lambda p: p.accuracy).beta
    assert len({b for b, _ in trained}) == len(trained)


def test_ebops_metric_uses_ebops() -> None:
    train, cost = _fake([])
    res = search(SearchConfig(limit=1500, metric="ebops", probes=4, epochs=3), train, cost, log=lambda s: None)
    assert cost(res.model)["ebops"] <= 1500


def test_next_beta_keeps_the_root_bracketed() -> None:
    cfg = SearchConfig(limit=1000)
    p = [Probe(1e-5, 5, 4000, 4000, 1, 0.7, False), Probe(1e-3, 5, 10, 10, 1, 0.6, True)]
    b = next_beta(p, cfg)
    assert 1e-5 < b < 1e-3


def test_an_impossible_budget_fails_with_the_smallest_design() -> None:
    train, cost = _fake([])
    with pytest.raises(SearchFailed) as err:
        search(SearchConfig(limit=10, probes=3, epochs=5, beta_max=1e-4), train, cost, log=lambda s: None)
    assert err.value.exit_code == 4
    smallest = min(p.cost for p in err.value.probes)
    assert f"the smallest found costs {smallest:.0f} lut" in str(err.value)
    assert 1 <= len(err.value.probes) <= 3


def test_a_shallow_cost_curve_is_followed_with_big_steps() -> None:
    trained: list = []
    train, cost = _fake(trained, exponent=0.08)              # cost barely moves with beta
    res = search(SearchConfig(limit=4000, probes=8, beta_start=1e-6, beta_max=1.0), train, cost, log=lambda s: None)
    assert cost(res.model)["lut"] <= 4000 and len(trained) <= 6


def test_a_noisy_inverted_slope_falls_back_to_the_power_law() -> None:
    cfg = SearchConfig(limit=2500)
    p = [Probe(1e-5, 5, 2777, 2777, 1, 0.72, False), Probe(1.2e-5, 5, 2859, 2859, 1, 0.72, False)]
    b = next_beta(p, cfg)
    assert b == pytest.approx(1.2e-5 * (2859 / 2250) ** (1 / 0.8))     # not the clamped 0.2 leap


def _slow_below(beta_fast: float):
    """Latency falls with beta: 25 ns below ``beta_fast``, 20 ns from it on (a 2-cycle layer
    that narrower widths bring to 1 cycle)."""
    def latency(m: dict) -> float:
        return 20.0 if m["beta"] >= beta_fast else 25.0
    return latency


def test_a_run_over_the_latency_limit_does_not_fit_and_takes_more_penalty() -> None:
    trained: list = []
    train, base = _fake(trained)
    latency = _slow_below(2.5e-5)

    def cost(m: dict) -> dict:
        return {**base(m), "latency_ns": latency(m)}

    cfg = SearchConfig(limit=4000, probes=5, epochs=5, latency_ns=20.0)
    res = search(cfg, train, cost, log=lambda s: None)
    assert latency(res.model) <= 20.0 and cost(res.model)["lut"] <= 4000
    slow = [p for p in res.probes if p.slow]
    assert slow and all(not p.fits and p.cost <= 4000 and p.latency_ns == 25.0 for p in slow)
    for before, after in zip(res.probes, res.probes[1:]):
        if before.slow:                                    # the step after a slow run adds penalty
            assert after.beta > before.beta


def test_without_a_latency_limit_latency_is_not_read() -> None:
    train, cost = _fake([])
    res = search(SearchConfig(limit=4000, probes=3, epochs=5), train, cost, log=lambda s: None)
    assert all(p.latency_ns is None and not p.slow for p in res.probes)


def test_no_run_fast_enough_names_the_latency(capsys) -> None:
    train, base = _fake([])

    def cost(m: dict) -> dict:
        return {**base(m), "latency_ns": 30.0}

    with pytest.raises(SearchFailed, match=r"no design within lut <= 4000 and 20 ns: .*30 ns.*quantize.search.runs"):
        search(SearchConfig(limit=4000, probes=3, epochs=5, latency_ns=20.0), train, cost, log=print)
    out = capsys.readouterr().out
    assert "too slow for lut <= 4000, latency <= 20 ns" in out
