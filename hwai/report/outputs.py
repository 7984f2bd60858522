"""Several model outputs in the reports (recipe ``outputs:``): per output one table of its
task's figures, the float model, the compressed framework model and the firmware (golden
model) side by side, and one ROC figure per output from the firmware's own values."""

from __future__ import annotations

from typing import Any

import numpy as np

SIDES = ("float", "framework", "firmware")


def output_tables(head: dict) -> list[tuple[str, list[list[str]]]]:
    """[(title, rows)] per output of report.json's ``outputs``; each row is
    [figure, float, framework, firmware]. Empty for a one-output run."""
    return [(f"{name} ({entry['task']})", _rows(entry)) for name, entry in (head.get("outputs") or {}).items()]


def _rows(entry: dict) -> list[list[str]]:
    ref = next((entry[s] for s in reversed(SIDES) if entry.get(s)), None) or {}
    if entry["task"] == "score":
        bkg = "/".join(ref.get("background") or [])
        rows = [(f"{sig}: efficiency at {ref.get('rate', 0):.2%} {bkg} rate", "efficiency", sig, _pct)
                for sig in ref.get("signals") or []]
        rows += [(f"{sig}: AUC vs {bkg}", "auc", sig, _num) for sig in ref.get("signals") or []]
    else:
        eff = f"{ref.get('signal_efficiency', 0.5):.0%}"
        rows = [("accuracy", "accuracy", None, _pct), ("macro AUC", "macro_auc", None, _num)]
        rows += [(f"{c}: AUC", "auc", c, _num) for c in ref.get("auc") or {}]
        rows += [(f"{c}: background rejection at {eff} signal eff.", "rejection", c, _num)
                 for c in ref.get("rejection") or {}]
    return [[label] + [fmt(_value(entry.get(s), key, sub)) for s in SIDES] for label, key, sub, fmt in rows]


def _value(metrics: dict | None, key: str, sub: str | None) -> Any:
    v = (metrics or {}).get(key)
    return (v or {}).get(sub) if sub is not None else v


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _num(v: Any) -> str:
    return "-" if v is None else (f"{v:,.1f}" if abs(v) >= 10 else f"{v:.4f}")


def roc_figures(graph: Any, data: Any, specs: Any, rows: int) -> list[tuple[str, Any]]:
    """[(title, matplotlib figure)] per output from the golden model's values on the first
    ``rows`` test events: one-vs-rest ROCs of a classify output, per-signal efficiency
    against background rate of a score."""
    from hwai.ir.interp import run_float_outputs
    from hwai.metrics import softmax
    from hwai.report.roc import class_roc_figure, score_roc_figure

    x, y = np.asarray(data.x_test[:rows]), np.asarray(data.y_test[:rows]).astype(int)
    out = []
    for spec, values in zip(specs, run_float_outputs(graph, x)):
        if spec["task"] == "score":
            fig = score_roc_figure(values[:, 0], y, list(data.class_names), spec)
        else:
            fig = class_roc_figure(softmax(values), y, list(data.class_names))
        out.append((f"{spec['name']}: ROC ({spec['task']}; firmware, golden model)", fig))
    return out
