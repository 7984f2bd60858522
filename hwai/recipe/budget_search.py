"""Budget-driven heterogeneous QAT: find the penalty that lands the design in the budget.

A user states the budget (``budget: {lut: 5000}``), not HGQ's regularisation strength
``beta``. Cost falls monotonically (in expectation) as ``beta`` grows, so hwai bisects
``log10(beta)`` with a few short trainings (probes), each lowered to the IR and costed
by hwai's calibrated estimate (or EBOPs); the smallest ``beta`` whose probe fits is
trained in full. If the full training lands over the budget (probes are short, the
penalty acts longer in the full run, but noise can go either way) ``beta`` is raised
and retried. Every probe is recorded, so the report says how the design was found.

Pure orchestration: ``train(beta, epochs)`` and ``cost(model)`` come from the caller (the
recipe step binds them to the framework engine and :mod:`hwai.estimate`), so this
module is tested without a framework.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hwai.errors import BudgetError

COSTS = ("lut", "ebops")


@dataclass(frozen=True)
class Probe:
    beta: float
    epochs: int
    cost: float            # the searched cost (LUT estimate or EBOPs)
    lut: float
    ebops: float
    accuracy: float | None
    fits: bool
    final: bool = False


@dataclass
class SearchResult:
    beta: float
    model: Any
    probes: list[Probe] = field(default_factory=list)

    def report(self, metric: str, limit: float) -> dict:
        return {"cost": metric, "limit": limit, "beta": self.beta,
                "probes": [asdict(p) for p in self.probes]}


@dataclass(frozen=True)
class SearchConfig:
    limit: float                      # the budget on the searched cost
    metric: str = "lut"               # lut | ebops
    beta_min: float = 1e-8
    beta_max: float = 1e-3
    probes: int = 5                   # short trainings in the bisection
    probe_epochs: int = 5
    epochs: int = 20                  # the full training at the chosen beta
    retries: int = 2                  # raise beta this often if the full run misses


class SearchFailed(BudgetError):
    """No probe or full training fitted the budget (exit 4); ``probes`` says what was tried."""

    def __init__(self, probes: list[Probe], message: str) -> None:
        super().__init__(message)
        self.probes = probes


Train = Callable[[float, int], Any]
Cost = Callable[[Any], dict]          # model -> {"lut", "ebops", "accuracy"}


def search(cfg: SearchConfig, train: Train, cost: Cost, log: Callable[[str], None] = print) -> SearchResult:
    """Bisect log10(beta) with short probes, then train the chosen beta in full."""
    probes: list[Probe] = []
    lo, hi = math.log10(cfg.beta_min), math.log10(cfg.beta_max)
    best_fit: float | None = None
    for k in range(cfg.probes):
        beta = 10 ** ((lo + hi) / 2)
        p = _probe(cfg, train, cost, beta, cfg.probe_epochs, log, f"probe {k + 1}/{cfg.probes}")
        probes.append(p)
        if p.fits:
            hi, best_fit = math.log10(beta), beta
        else:
            lo = math.log10(beta)
    beta = best_fit if best_fit is not None else 10 ** hi
    return _final(cfg, train, cost, beta, probes, log)


def _final(cfg: SearchConfig, train: Train, cost: Cost, beta: float, probes: list[Probe],
           log: Callable[[str], None]) -> SearchResult:
    """Full training at ``beta``; raise beta (x4) while it misses the budget, then give up."""
    for k in range(cfg.retries + 1):
        model = train(beta, cfg.epochs)
        p = _measure(cfg, cost, model, beta, cfg.epochs, final=True)
        probes.append(p)
        log(f"[hwai]   beta {beta:.3g} ({cfg.epochs} epochs): {_show(p, cfg)}")
        if p.fits:
            return SearchResult(beta, model, probes)
        if k < cfg.retries:
            beta = min(beta * 4, cfg.beta_max * 16)
    smallest = min(probes, key=lambda q: q.cost)
    raise SearchFailed(probes,
        f"no design within {cfg.metric} <= {cfg.limit:g}: the smallest found costs {smallest.cost:.0f} "
        f"{cfg.metric} (beta {smallest.beta:.3g}, accuracy {_acc(smallest)}); raise the budget, shrink the "
        f"model, or allow a larger beta (quantize.search.beta_max)")


def _probe(cfg: SearchConfig, train: Train, cost: Cost, beta: float, epochs: int,
           log: Callable[[str], None], tag: str) -> Probe:
    p = _measure(cfg, cost, train(beta, epochs), beta, epochs)
    log(f"[hwai]   {tag}: beta {beta:.3g} -> {_show(p, cfg)}")
    return p


def _measure(cfg: SearchConfig, cost: Cost, model: Any, beta: float, epochs: int, final: bool = False) -> Probe:
    c = cost(model)
    value = float(c[cfg.metric])
    return Probe(beta, epochs, value, float(c["lut"]), float(c["ebops"]), c.get("accuracy"),
                 value <= cfg.limit, final)


def _show(p: Probe, cfg: SearchConfig) -> str:
    verdict = "fits" if p.fits else "over"
    return f"{p.lut:.0f} LUT est, {p.ebops:.0f} EBOPs, accuracy {_acc(p)} ({verdict} {cfg.metric} <= {cfg.limit:g})"


def _acc(p: Probe) -> str:
    return "n/a" if p.accuracy is None else f"{p.accuracy:.4f}"
