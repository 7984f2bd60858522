"""The beta bisection of budget-driven heterogeneous QAT, on a synthetic cost model."""

from __future__ import annotations

import math

import pytest

from hwai.recipe.budget_search import SearchConfig, SearchFailed, search

pytestmark = pytest.mark.unit


def _fake(trained: list):
    """cost falls with log(beta) and a little with epochs; accuracy falls with beta."""
    def train(beta: float, epochs: int) -> dict:
        trained.append((beta, epochs))
        return {"beta": beta, "epochs": epochs}

    def cost(m: dict) -> dict:
        lut = 20000 / (1 + 1e5 * m["beta"]) * (1.05 if m["epochs"] < 10 else 1.0)
        return {"lut": lut, "ebops": lut * 0.9, "accuracy": 0.75 - 0.01 * math.log10(1 + 1e5 * m["beta"])}

    return train, cost


def test_bisection_finds_a_beta_that_fits_and_trains_it_in_full() -> None:
    trained: list = []
    train, cost = _fake(trained)
    cfg = SearchConfig(limit=5000, probes=6, probe_epochs=3, epochs=20)
    res = search(cfg, train, cost, log=lambda s: None)
    assert cost(res.model)["lut"] <= 5000
    assert trained[-1] == (res.beta, 20) and len(res.probes) == 7
    assert all(p.epochs == 3 for p in res.probes[:-1]) and res.probes[-1].final
    # the fitting beta is close to the smallest that fits (3e-5 gives 5000 exactly): not wastefully large
    assert res.beta < 1e-4
    fits = [p.beta for p in res.probes[:-1] if p.fits]
    assert res.beta == min(fits)


def test_ebops_metric_uses_ebops() -> None:
    train, cost = _fake([])
    res = search(SearchConfig(limit=4500, metric="ebops", probes=5, probe_epochs=2, epochs=12),
                 train, cost, log=lambda s: None)
    assert cost(res.model)["ebops"] <= 4500


def test_full_run_over_budget_raises_beta_then_fits() -> None:
    trained: list = []
    train, base = _fake(trained)

    def cost(m: dict) -> dict:     # the full training lands 40 % higher than the probes
        c = base(m)
        return {**c, "lut": c["lut"] * (1.4 if m["epochs"] >= 10 else 1.0)}

    res = search(SearchConfig(limit=5000, probes=6, probe_epochs=3, epochs=20), train, cost, log=lambda s: None)
    finals = [p for p in res.probes if p.final]
    assert len(finals) == 2 and not finals[0].fits and finals[1].fits
    assert finals[1].beta == pytest.approx(finals[0].beta * 4)


def test_an_impossible_budget_fails_with_the_smallest_design() -> None:
    train, cost = _fake([])
    with pytest.raises(SearchFailed) as err:
        search(SearchConfig(limit=10, probes=4, probe_epochs=2, epochs=5, retries=1), train, cost,
               log=lambda s: None)
    assert err.value.exit_code == 4
    smallest = min(p.cost for p in err.value.probes)
    assert f"the smallest found costs {smallest:.0f} lut" in str(err.value)
    assert len(err.value.probes) == 4 + 2
