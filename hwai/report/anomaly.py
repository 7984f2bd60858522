"""Anomaly-detection results in the reports: per signal, the efficiency at the background rate
and the AUC, framework model and firmware (golden model) side by side, and the ROC figure."""

from __future__ import annotations

from typing import Any

import numpy as np


def anomaly_rows(head: dict) -> list[list[str]]:
    """[label, "framework / firmware"] per signal and figure; empty for a classifier run."""
    fw = head.get("firmware_metrics") or {}
    if "efficiency" not in fw:
        return []
    model = head.get("compressed_metrics") or {}
    rate = f"{fw['rate']:.2%} {'/'.join(fw['background'])} rate"

    def pair(key: str, sig: str, pct: bool) -> str:
        vals = [(m.get(key) or {}).get(sig) for m in (model, fw)]
        return " / ".join("-" if v is None else (f"{100 * v:.2f} %" if pct else f"{v:.4f}") for v in vals)

    rows = [[f"{sig}: efficiency at {rate} (framework / firmware)", pair("efficiency", sig, True)]
            for sig in fw["signals"]]
    rows += [[f"{sig}: AUC vs {'/'.join(fw['background'])} (framework / firmware)", pair("auc", sig, False)]
             for sig in fw["signals"]]
    return rows


def roc_figure(graph: Any, data: Any, anomaly: dict) -> Any:
    """Signal efficiency against background rate (log) per signal, from the firmware's score
    (a matplotlib figure; report.html embeds it)."""
    from hwai.ir.interp import run_float
    from hwai.report.roc import score_roc_figure

    score = run_float(graph, data.x_test)[:, 0]
    return score_roc_figure(score, np.asarray(data.y_test), list(data.class_names), anomaly)
