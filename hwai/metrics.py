"""Classification metrics as trigger physicists quote them.

Besides accuracy and one-vs-rest ROC AUC, the figure of merit for a trigger tagger is
the background rejection ``1/eps_B`` at a fixed signal efficiency ``eps_S`` (e.g. 50%):
how many background jets are thrown away per one kept while half the signal survives.
Everything returned is a plain Python float/dict/None so it drops into ``report.json``.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, shifted by the row max for numerical stability."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """Return ``scores`` if they already are probabilities, else ``softmax(scores)``.

    One-vs-rest ROCs must rank events by p(class | x): a raw logit of one class ignores
    the others, so ranking by it is not equivalent (softmax is monotone only jointly).
    """
    s = np.asarray(scores, dtype=np.float64)
    is_prob = s.min() >= 0.0 and s.max() <= 1.0 and np.allclose(s.sum(axis=1), 1.0, atol=1e-4)
    return s if is_prob else softmax(s)


def background_rejection(is_signal: np.ndarray, score: np.ndarray, signal_efficiency: float) -> float | None:
    """``1/eps_B`` at ``eps_S = signal_efficiency``, interpolating the ROC linearly.

    Returns None when undefined: no signal or no background events, or eps_B = 0
    (rejection beyond what this sample can resolve).
    """
    from sklearn.metrics import roc_curve

    if is_signal.all() or not is_signal.any():
        return None
    fpr, tpr, _ = roc_curve(is_signal, score, drop_intermediate=False)
    # Several cuts can share one eps_S; the first (fpr is non-decreasing) is the best working point.
    tpr_unique, first = np.unique(tpr, return_index=True)
    eps_b = float(np.interp(signal_efficiency, tpr_unique, fpr[first]))
    return None if eps_b <= 0.0 else 1.0 / eps_b


def _auc(is_signal: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if is_signal.all() or not is_signal.any():
        return None  # AUC is undefined with a single class present
    return float(roc_auc_score(is_signal, score))


def classification_metrics(
    y_true: np.ndarray,
    scores: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    signal_efficiency: float = 0.5,
) -> dict:
    """Accuracy, per-class one-vs-rest AUC, macro AUC and rejection at fixed signal efficiency.

    ``scores`` are (N, K) logits or probabilities; ``y_true`` are int class indices.
    Returns ``{"accuracy", "auc": {name: ..}, "macro_auc", "rejection": {name: ..},
    "signal_efficiency", "n_events"}``; undefined per-class entries are None and the
    macro AUC averages the defined ones.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    probs = as_probabilities(scores)
    if probs.ndim != 2 or probs.shape != (len(y), len(class_names)):
        raise ValueError(f"scores shape {probs.shape} does not match {len(y)} labels x {len(class_names)} classes")
    auc, rejection = {}, {}
    for k, name in enumerate(class_names):
        auc[str(name)] = _auc(y == k, probs[:, k])
        rejection[str(name)] = background_rejection(y == k, probs[:, k], signal_efficiency)
    defined = [v for v in auc.values() if v is not None]
    return {
        "accuracy": float(np.mean(np.argmax(probs, axis=1) == y)) if len(y) else None,
        "auc": auc,
        "macro_auc": float(np.mean(defined)) if defined else None,
        "rejection": rejection,
        "signal_efficiency": float(signal_efficiency),
        "n_events": int(len(y)),
    }


# --- anomaly detection ---------------------------------------------------------------
# An anomaly trigger keeps an event when its score passes a threshold set on background
# alone: the threshold is fixed by the rate the trigger may spend on background (e.g. 1 %),
# and the figure of merit is each signal's efficiency at that threshold (AXOL1TL, CICADA).

def rate_threshold(background_score: np.ndarray, rate: float) -> float:
    """The cut ``t`` with ``score > t`` keeping at most ``rate`` of the background: the
    (floor(rate * n) + 1)-th largest background score (ties stay below the cut)."""
    s = np.sort(np.asarray(background_score, dtype=np.float64))[::-1]
    if not 0.0 < rate < 1.0 or len(s) == 0:
        raise ValueError(f"background rate {rate} must be in (0, 1) with background events present")
    return float(s[min(int(np.floor(rate * len(s))), len(s) - 1)])


def anomaly_metrics(y_true: np.ndarray, score: np.ndarray, class_names: list[str] | tuple[str, ...],
                    background: list[str], signals: list[str], rate: float) -> dict:
    """Per signal class: efficiency ``P(score > t)`` at the background-rate threshold ``t``
    and the AUC of that class against the background (higher score = more anomalous).

    Returns ``{"efficiency": {sig: ..}, "auc": {sig: ..}, "rate", "background_rate",
    "threshold", "background", "signals", "n_events": {name: ..}}``; a signal with no
    events gets None."""
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    names = [str(c) for c in class_names]
    is_bkg = np.isin(y, [names.index(c) for c in background])
    t = rate_threshold(s[is_bkg], rate)
    eff, auc = {}, {}
    for sig in signals:
        is_sig = y == names.index(sig)
        eff[sig] = float(np.mean(s[is_sig] > t)) if is_sig.any() else None
        both = is_sig | is_bkg
        auc[sig] = _auc(is_sig[both], s[both])
    return {"efficiency": eff, "auc": auc, "rate": float(rate), "threshold": t,
            "background_rate": float(np.mean(s[is_bkg] > t)), "background": list(background),
            "signals": list(signals), "n_events": {c: int(np.sum(y == names.index(c))) for c in background + signals}}


# --- several outputs ---------------------------------------------------------------------
# A recipe's ``outputs:`` says what each model output is: ``classify`` (one column per class,
# the classifier metrics above) or ``score`` (one column, the anomaly-style metrics above).

def output_metrics(y_true: np.ndarray, outputs: list[np.ndarray], specs: list[dict] | tuple[dict, ...],
                   class_names: list[str] | tuple[str, ...], signal_efficiency: float = 0.5) -> dict:
    """``{name: metrics}`` in output order: each output's scores (N, width) measured by its task."""
    return {str(spec["name"]): one_output_metrics(y_true, scores, spec, class_names, signal_efficiency)
            for spec, scores in zip(specs, outputs)}


def one_output_metrics(y_true: np.ndarray, scores: np.ndarray, spec: dict,
                       class_names: list[str] | tuple[str, ...], signal_efficiency: float = 0.5) -> dict:
    """:func:`classification_metrics` of a ``classify`` output, :func:`anomaly_metrics` of a ``score``."""
    if spec["task"] == "score":
        return anomaly_metrics(y_true, np.asarray(scores).reshape(len(y_true), -1)[:, 0], class_names,
                               list(spec["background"]), list(spec["signals"]), float(spec["rate"]))
    return classification_metrics(y_true, scores, class_names, signal_efficiency)
