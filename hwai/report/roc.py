"""ROC figures (matplotlib) from scores already computed: a classifier's one-vs-rest curves and
an anomaly-style score's signal efficiency against background rate."""

from __future__ import annotations

from typing import Any

import numpy as np


def class_roc_figure(probs: np.ndarray, y: np.ndarray, class_names: list[str]) -> Any:
    """One-vs-rest ROC per class: background efficiency (log) against signal efficiency."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k, name in enumerate(class_names):
        if 0 < (y == k).sum() < len(y):
            fpr, tpr, _ = roc_curve(y == k, probs[:, k])
            ax.plot(tpr, np.maximum(fpr, 1e-5), label=f"{name} (AUC {roc_auc_score(y == k, probs[:, k]):.3f})")
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def score_roc_figure(score: np.ndarray, y: np.ndarray, class_names: list[str], spec: Any) -> Any:
    """Signal efficiency against background rate (log) per signal of ``spec`` (``signals``,
    ``background``, ``rate``: the anomaly block or a score output), the rate marked."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    is_bkg = np.isin(y, [class_names.index(c) for c in spec["background"]])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for sig in spec["signals"]:
        both = is_bkg | (y == class_names.index(sig))
        fpr, tpr, _ = roc_curve(y[both] == class_names.index(sig), score[both])
        ax.plot(np.maximum(fpr, 1e-5), tpr, label=sig)
    ax.axvline(float(spec["rate"]), color="tab:red", lw=1, label=f"rate {float(spec['rate']):.1%}")
    ax.set_xscale("log")
    ax.set_xlabel(f"background ({'/'.join(spec['background'])}) rate")
    ax.set_ylabel("signal efficiency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
