"""From per-class Pareto sets to one hardware model: joint front, cost, the ``select:`` rule.

A joint model takes, for a complexity level ``c``, each class's best expression with
complexity <= c (the per-class budget of Tsoi et al. 2023). Each model is lowered to
the IR, its *fixed-point* accuracy measured with the golden interpreter (what the
FPGA will do, not the float expression), and its cost estimated with
:func:`hwai.estimate.estimate` when that has a rule for ``expr`` — otherwise with the
operation-count fallback below, which says so in ``cost_method``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwai.errors import BudgetError
from hwai.estimate import estimate
from hwai.ir.graph import Graph
from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.symbolic.fit import Candidate, complexity, evaluate
from hwai.symbolic.to_ir import expressions_to_graph
from hwai.target import Target


@dataclass(frozen=True)
class SRModel:
    """One expression per class, lowered and measured."""

    level: int
    exprs: tuple[Any, ...]
    complexity: int                 # sum over classes
    graph: Graph
    accuracy: float                 # fixed-point (golden model) accuracy on the given rows
    float_accuracy: float
    lut: float
    dsp: int
    latency_cycles: int
    latency_ns: float
    cost_method: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"level": self.level, "exprs": [str(e) for e in self.exprs],
                "complexity": self.complexity, "accuracy": round(self.accuracy, 5),
                "float_accuracy": round(self.float_accuracy, 5), "lut": round(self.lut, 1),
                "dsp": self.dsp, "latency_cycles": self.latency_cycles,
                "latency_ns": round(self.latency_ns, 2), "cost_method": self.cost_method}


def joint_models(fronts: Sequence[Sequence[Candidate]], input_type: FixedType, n_inputs: int,
                 cfg: dict, X: np.ndarray, y: np.ndarray, target: Target | None = None,
                 calib_x: np.ndarray | None = None) -> list[SRModel]:
    """One SRModel per distinct complexity level present in any class's front."""
    target = target or Target()
    levels = sorted({c.complexity for f in fronts for c in f})
    models, seen = [], set()
    for lvl in levels:
        picks = [_best_upto(f, lvl) for f in fronts]
        if any(p is None for p in picks) or tuple(map(str, picks)) in seen:
            continue
        seen.add(tuple(map(str, picks)))
        models.append(measure(lvl, [p.expr for p in picks], input_type, n_inputs, cfg,
                              X, y, target, calib_x if calib_x is not None else X))
    return models


def _best_upto(front: Sequence[Candidate], level: int) -> Candidate | None:
    ok = [c for c in front if c.complexity <= level]
    key = (lambda c: c.val_loss) if ok and not math.isnan(ok[0].val_loss) else (lambda c: c.train_loss)
    return min(ok, key=key) if ok else None


def measure(level: int, exprs: Sequence[Any], input_type: FixedType, n_inputs: int, cfg: dict,
            X: np.ndarray, y: np.ndarray, target: Target, calib_x: np.ndarray) -> SRModel:
    """Lower ``exprs``, score fixed-point and float accuracy on (X, y), estimate cost."""
    g = expressions_to_graph(exprs, input_type, n_inputs, cfg, calib_x=calib_x)
    q = run(g, input_type.from_float(X))[g.outputs[0]]
    acc = float(np.mean(np.argmax(q, axis=1) == y))
    flt = np.stack([evaluate(e, X) for e in exprs], axis=1)
    facc = float(np.mean(np.argmax(np.nan_to_num(flt, nan=-np.inf), axis=1) == y))
    lut, dsp, cyc, method = graph_cost(g, target)
    return SRModel(level, tuple(exprs), sum(complexity(e) for e in exprs), g, acc, facc,
                   lut, dsp, cyc, cyc * target.clock_period_ns, method)


def graph_cost(g: Graph, target: Target) -> tuple[float, int, int, str]:
    """(LUT, DSP, latency cycles, method) from hwai's estimator (its ``expr`` rule)."""
    est = estimate(g, target)
    t = est.total
    return float(t.lut), int(t.dsp), int(t.latency_cycles), est.method


def pareto(models: Sequence[SRModel], cost: str = "lut") -> list[SRModel]:
    """Models not beaten by another that is both cheaper (or equal) and more accurate."""
    def dominated(m: SRModel) -> bool:
        return any(getattr(o, cost) <= getattr(m, cost) and o.accuracy >= m.accuracy and
                   (getattr(o, cost) < getattr(m, cost) or o.accuracy > m.accuracy) for o in models)
    return sorted([m for m in models if not dominated(m)], key=lambda m: getattr(m, cost))


def select(models: Sequence[SRModel], rule: dict | None) -> SRModel:
    """The recipe's ``select:`` rule: best ``metric`` among models meeting every budget.

    ``{metric: accuracy, max_lut: 5000, max_latency_ns: 50, max_complexity: 20}``
    (``max_complexity`` is per class expression, as PySR's ``maxsize``); ties go
    to the cheaper model. Raises BudgetError listing the cheapest model when none fits.
    """
    rule = dict(rule or {})
    metric = rule.get("metric", "accuracy")
    limits = {"max_lut": "lut", "max_latency_ns": "latency_ns", "max_complexity": "level",
              "max_dsp": "dsp"}
    ok = [m for m in models
          if all(getattr(m, attr) <= rule[k] for k, attr in limits.items() if rule.get(k) is not None)]
    if not ok:
        cheapest = min(models, key=lambda m: m.lut) if models else None
        raise BudgetError(f"symbolic.select: no candidate meets {rule}; cheapest: "
                          f"{cheapest.to_dict() if cheapest else 'none'}")
    return max(ok, key=lambda m: (getattr(m, metric), -m.lut, -m.complexity))


def plot_front(models: Sequence[SRModel], chosen: SRModel | None, path: str | Path) -> Path:
    """Accuracy vs estimated LUTs (and complexity) of every model; the chosen one circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, attr, label in ((axes[0], "complexity", "total complexity"), (axes[1], "lut", "estimated LUT")):
        ax.plot([getattr(m, attr) for m in models], [m.accuracy for m in models], "o-", label="fixed-point")
        ax.plot([getattr(m, attr) for m in models], [m.float_accuracy for m in models], "x--", label="float")
        if chosen is not None:
            ax.plot([getattr(chosen, attr)], [chosen.accuracy], "o", ms=14, mfc="none", mec="r", label="selected")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version/time stamps: deterministic
    plt.close(fig)
    return path
