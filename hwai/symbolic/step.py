"""The recipe's ``symbolic`` step: teacher logits -> expressions -> Pareto front -> one IR graph."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hwai.ir.graph import Graph
from hwai.ir.numeric import DEFAULT_TYPE, fixed_from_dict
from hwai.ir.types import FixedType
from hwai.symbolic.fit import fit_expressions, make_targets
from hwai.symbolic.select import joint_models, pareto, plot_front, select


def run_symbolic(ctx: Any, cfg: dict, step_dir: Path) -> tuple[Graph, dict]:
    """Fit one expression per class, measure every complexity level in fixed point, select one.

    ``cfg``: the validated ``symbolic:`` section with absent keys removed (the caller's job:
    this package sits below ``hwai.recipe`` and does not import it).
    """
    data = ctx.data
    teacher = ctx.model if cfg["target"] == "logits" else None
    y_fit = make_targets(data.y_train, data.n_classes, _logits(ctx, teacher, data.x_train), cfg["target"])
    y_val = make_targets(data.y_val, data.n_classes, _logits(ctx, teacher, data.x_val), cfg["target"])
    ctx.log(f"[hwai]   fitting {data.n_classes} expressions with {cfg['engine']} "
            f"({min(len(data.x_train), cfg['max_rows'])} rows)")
    fronts = fit_expressions(data.x_train, y_fit, cfg, ctx.seed, data.x_val, y_val)
    input_type: FixedType = fixed_from_dict(cfg.get("input"), DEFAULT_TYPE)
    models = joint_models(fronts, input_type, data.n_features, cfg, data.x_val, data.y_val,
                          ctx.target, calib_x=data.x_train[: cfg["max_rows"]])
    chosen = select(models, budget_rule(cfg.get("select"), ctx.recipe.budget))
    plot_front(models, chosen, ctx.run_dir / "plots" / "symbolic_front.png")
    ctx.log(f"[hwai]   selected complexity {chosen.complexity}: val accuracy {chosen.accuracy:.4f} "
            f"(fixed point), est. {chosen.lut:.0f} LUT")
    graph = _with_meta(chosen.graph, {"kind": "symbolic", "exprs": [str(e) for e in chosen.exprs]})
    rep = {"selected": chosen.to_dict(), "pareto": [m.to_dict() for m in pareto(models)],
           "models": [m.to_dict() for m in models],
           "candidates": [{"step": f"sr-{m.level}", "accuracy": m.accuracy, "lut": m.lut} for m in models]}
    return graph, rep


def budget_rule(rule: dict | None, budget: dict) -> dict:
    """The ``select:`` rule, with the recipe's hardware budget as default limits: an
    expression that the budget step would reject is never selected."""
    out = dict(rule or {})
    for key, limit in (("max_lut", "lut"), ("max_dsp", "dsp"), ("max_latency_ns", "latency_ns")):
        if out.get(key) is None and budget.get(limit) is not None:
            out[key] = budget[limit]
    return out


def _logits(ctx: Any, model: Any, x: np.ndarray) -> np.ndarray | None:
    return None if model is None else ctx.engine.logits(model, x)


def _with_meta(graph: Graph, meta: dict) -> Graph:
    return replace(graph, meta={**graph.meta, **meta})
