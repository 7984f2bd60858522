"""Compare an :class:`~hwai.estimate.Estimate` with a recipe's hardware budget.

The report only states the verdict; the caller (recipe runner) decides what a failed
budget means (``on_fail: error | warn | ...``) and raises :class:`hwai.errors.BudgetError`
itself if it wants to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hwai.estimate.cost import Estimate
from hwai.target import Target

RESOURCES = ("lut", "ff", "dsp", "bram", "latency_ns", "latency_cycles", "ii")


@dataclass(frozen=True)
class BudgetRow:
    resource: str
    used: float
    budget: float

    @property
    def margin_pct(self) -> float:
        """Headroom as % of the budget (negative: over budget)."""
        if self.budget == 0:
            return 0.0 if self.used == 0 else -100.0
        return 100.0 * (self.budget - self.used) / self.budget

    @property
    def ok(self) -> bool:
        return self.used <= self.budget

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "used": self.used, "budget": self.budget,
                "margin_pct": round(self.margin_pct, 1), "ok": self.ok}


@dataclass(frozen=True)
class BudgetReport:
    rows: tuple[BudgetRow, ...]
    method: str

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failed(self) -> tuple[BudgetRow, ...]:
        return tuple(r for r in self.rows if not r.ok)

    def table(self) -> str:
        """Aligned plain-text table, one row per budgeted resource, plus the verdict."""
        head = ("resource", "used", "budget", "margin", "ok")
        body = [(r.resource, _num(r.used), _num(r.budget), f"{r.margin_pct:+.1f}%",
                 "yes" if r.ok else "NO") for r in self.rows]
        widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths))) for row in [head, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"verdict: {'within budget' if self.ok else 'OVER BUDGET'} ({self.method})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "method": self.method, "rows": [r.to_dict() for r in self.rows]}


def _num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def used_amount(est: Estimate, resource: str, target: Target) -> float:
    """The estimate's figure for ``resource`` (latency_ns = cycles x clock period)."""
    t = est.total
    if resource == "latency_ns":
        return t.latency_cycles * target.clock_period_ns
    return float(getattr(t, resource))


def check_budget(est: Estimate, budget: Mapping[str, float], target: Target) -> BudgetReport:
    """Rows in the canonical order for every resource present in ``budget``."""
    unknown = sorted(set(budget) - set(RESOURCES))
    if unknown:
        raise ValueError(f"unknown budget key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(RESOURCES)}")
    rows = tuple(BudgetRow(r, used_amount(est, r, target), float(budget[r]))
                 for r in RESOURCES if r in budget and budget[r] is not None)
    return BudgetReport(rows, est.method)
