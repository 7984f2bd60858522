"""Budget-driven heterogeneous QAT: find the penalty that lands the design in the budget.

A user states the budget (``budget: {lut: 5000}``), not HGQ's regularisation strength
``beta``. Cost falls with ``beta`` about as a power law (measured on the jet MLP, 25
epochs: EBOPs ~ beta^-0.8 from 1e-6 to 3e-5), so hwai solves ``cost(beta) = limit`` with
that law, its exponent fitted to the runs so far (:func:`fitted_slope`), keeping the root
bracketed once it has a run on each side. Every run is a full training: short probes mislead, because the penalty keeps
shrinking widths for as long as it acts (measured: 3,116 EBOPs after 6 epochs, 430 after
30, same beta). Each run is lowered exactly as the lower step will, costed by hwai's
calibrated estimate (or EBOPs) and scored on the validation rows by the bit-exact golden
model; the most accurate run inside the budget is kept, so no run is repeated. Every run
is recorded, so the report says how the design was found.

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

# lut: hwai's calibrated estimate (free); yosys: Yosys LUTs of the probe's own Verilog (a
# synthesis per run, the number the budget is checked against with --synth); ebops: HGQ's proxy
COSTS = ("lut", "ebops", "yosys")
SLOPE = 0.8            # -d log(cost) / d log(beta): the first step's guess, then measured
CLOSE = 0.8            # a fitting run using >= 80 % of the budget ends the search
AIM = 0.9              # each step aims at 90 % of the limit: run-to-run noise is about +-5 %
# A run inside the cost limit but slower than the latency limit needs more penalty: narrower
# widths make shallower, narrower adders. How much more is not on the cost curve, so the step
# is a fixed factor (bisected once a faster run brackets it). Measured on the jet MLP at a
# 2,500-LUT budget: beta 1.5e-5 gave 2,126 Yosys LUT but 5 cycles (a 2-cycle first layer).
SLOW_STEP = 1.5


@dataclass(frozen=True)
class Probe:
    beta: float
    epochs: int
    cost: float            # the searched cost (LUT estimate, Yosys LUT or EBOPs)
    lut: float
    ebops: float
    accuracy: float | None
    fits: bool
    chosen: bool = False
    yosys: float | None = None   # Yosys LUT, when the search synthesizes each run
    latency_ns: float | None = None  # estimated latency, when the budget limits it
    slow: bool = False               # inside the cost limit, over the latency limit


@dataclass
class SearchResult:
    beta: float
    model: Any
    probes: list[Probe] = field(default_factory=list)

    def report(self, metric: str, limit: float) -> dict:
        return search_report(metric, limit, self.probes, beta=self.beta)


def search_report(metric: str, limit: float, probes: list[Probe], **extra: Any) -> dict:
    """What the step report records of a search, found or failed: every run, in order."""
    return {"cost": metric, "limit": limit, "runs": len(probes), "probes": [asdict(p) for p in probes], **extra}


@dataclass(frozen=True)
class SearchConfig:
    limit: float                      # the budget on the searched cost
    metric: str = "lut"               # lut | ebops
    beta_start: float = 1e-5
    beta_min: float = 1e-8
    beta_max: float = 1e-2
    probes: int = 3                   # full trainings at most
    epochs: int = 20
    latency_ns: float | None = None   # budget.latency_ns: a run over it does not fit


class SearchFailed(BudgetError):
    """No run fitted the budget (exit 4); ``probes`` says what was tried."""

    def __init__(self, probes: list[Probe], message: str) -> None:
        super().__init__(message)
        self.probes = probes


Train = Callable[[float, int], Any]
Cost = Callable[[Any], dict]          # model -> {"lut", "ebops", "accuracy"}


def search(cfg: SearchConfig, train: Train, cost: Cost, log: Callable[[str], None] = print) -> SearchResult:
    """Secant steps on log(cost) vs log(beta) until a run fits closely or runs are used up."""
    probes: list[Probe] = []
    best: tuple[Probe, Any] | None = None
    beta = _clamp(cfg.beta_start, cfg)
    for k in range(cfg.probes):
        model = train(beta, cfg.epochs)
        p = _measure(cfg, cost, model, beta)
        probes.append(p)
        log(f"[hwai]   run {k + 1}/{cfg.probes}: beta {beta:.3g} -> {_show(p, cfg)}")
        if p.fits and (best is None or _acc_key(p) > _acc_key(best[0])):
            best = (p, model)
        if p.fits and p.cost >= CLOSE * cfg.limit:
            break
        beta = next_beta(probes, cfg)
        if any(math.isclose(beta, q.beta, rel_tol=1e-3) for q in probes):
            break                                  # pinned at a bound: nothing new to learn
    if best is None:
        smallest = min(probes, key=lambda q: q.cost)
        within = f"{cfg.metric} <= {cfg.limit:g}" + ("" if cfg.latency_ns is None else f" and {cfg.latency_ns:g} ns")
        latency = "" if smallest.latency_ns is None else f", {smallest.latency_ns:g} ns"
        raise SearchFailed(probes,
            f"no design within {within}: the smallest found costs {smallest.cost:.0f} "
            f"{cfg.metric} (beta {smallest.beta:.3g}{latency}, accuracy {_acc(smallest)}); raise the budget, shrink the "
            f"model, allow more runs (quantize.search.runs) or a larger beta (quantize.search.beta_max)")
    chosen = best[0]
    probes = [Probe(**{**asdict(q), "chosen": q is chosen}) for q in probes]
    return SearchResult(chosen.beta, best[1], probes)


def next_beta(probes: list[Probe], cfg: SearchConfig) -> float:
    """The beta whose cost the local power law puts at 90 % of the limit, inside the bracket."""
    target = AIM * cfg.limit
    last = probes[-1]
    slope = fitted_slope(probes)
    beta = last.beta * (max(last.cost, 1e-9) / target) ** (1 / slope)
    if last.slow:                                  # small enough but too slow: more penalty
        beta = last.beta * SLOW_STEP
    over = [q.beta for q in probes if not q.fits]  # too small a penalty
    fit = [q.beta for q in probes if q.fits]       # enough penalty
    lo, hi = (max(over) if over else None), (min(fit) if fit else None)
    if lo is not None and hi is not None and not lo < beta < hi:
        beta = math.sqrt(lo * hi)                  # keep the root bracketed
    return _clamp(beta, cfg)


def fitted_slope(probes: list[Probe]) -> float:
    """-d log(cost) / d log(beta), least squares over every run so far, once the runs span at
    least a factor 2 in beta; before that the power law's prior. Nearby betas differ by
    training noise more than by beta (measured: 2,777 LUT at 1e-5, 2,859 at 1.2e-5), so a
    slope from them alone would send the next step anywhere. A trusted slope is kept in
    [0.2, 3]: a shallow cost curve then takes big steps instead of crawling."""
    pts = [(math.log(p.beta), math.log(p.cost)) for p in probes if p.beta > 0 and p.cost > 0]
    xs = [x for x, _ in pts]
    if len(pts) < 2 or max(xs) - min(xs) < math.log(2):
        return SLOPE
    mx, my = sum(xs) / len(xs), sum(y for _, y in pts) / len(pts)
    slope = -sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x in xs)
    return min(max(slope, 0.2), 3.0)


def _clamp(beta: float, cfg: SearchConfig) -> float:
    return min(max(beta, cfg.beta_min), cfg.beta_max)


def _measure(cfg: SearchConfig, cost: Cost, model: Any, beta: float) -> Probe:
    c = cost(model)
    value = float(c[cfg.metric])
    yosys = c.get("yosys")
    latency = None if cfg.latency_ns is None else float(c["latency_ns"])
    slow = latency is not None and latency > cfg.latency_ns
    return Probe(beta, cfg.epochs, value, float(c["lut"]), float(c["ebops"]), c.get("accuracy"),
                 value <= cfg.limit and not slow, yosys=None if yosys is None else float(yosys),
                 latency_ns=latency, slow=slow and value <= cfg.limit)


def _acc_key(p: Probe) -> float:
    return -1.0 if p.accuracy is None else p.accuracy


def _show(p: Probe, cfg: SearchConfig) -> str:
    verdict = "fits" if p.fits else "too slow for" if p.slow else "over"
    yosys = "" if p.yosys is None else f"{p.yosys:.0f} LUT Yosys, "
    latency = "" if p.latency_ns is None else f", {p.latency_ns:g} ns"
    limits = f"{cfg.metric} <= {cfg.limit:g}" + ("" if cfg.latency_ns is None else f", latency <= {cfg.latency_ns:g} ns")
    return (f"{yosys}{p.lut:.0f} LUT est, {p.ebops:.0f} EBOPs{latency}, val accuracy {_acc(p)} "
            f"({verdict} {limits})")


def _acc(p: Probe) -> str:
    return "n/a" if p.accuracy is None else f"{p.accuracy:.4f}"
