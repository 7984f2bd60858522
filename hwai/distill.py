"""Knowledge distillation, the framework-independent parts.

Loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network")::

    L = alpha * CE(labels, softmax(s)) + (1 - alpha) * T**2 * KL(softmax(t/T) || softmax(s/T))

The T² factor keeps the soft-target gradients at the same scale as the hard ones when
T changes. Teacher logits are computed once per (teacher weights, inputs) and cached
as npz, so re-running a recipe step (or distilling several students) never re-runs
the teacher. The Keras and torch training loops live in
:mod:`hwai.engines.keras_distill` and :mod:`hwai.engines.torch_distill`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

# Distillation's own keys; the training keys (epochs, batch_size, ...) take the engines'
# shared defaults (hwai.engines.core.with_train_defaults).
DEFAULTS = {"temperature": 4.0, "alpha": 0.1}


def settings(cfg: dict) -> dict:
    """The distill config with defaults filled in (keys of the recipe's ``distill:`` step)."""
    out = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    if not 0.0 <= float(out["alpha"]) <= 1.0:
        raise ValueError(f"distill.alpha must be in [0, 1], got {out['alpha']}")
    if float(out["temperature"]) <= 0:
        raise ValueError(f"distill.temperature must be > 0, got {out['temperature']}")
    return out


# --- the loss, as the definition the framework versions are tested against ---------

def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def kd_loss(student_logits: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
            temperature: float, alpha: float) -> float:
    """Batch-mean KD loss in float64 (reference implementation)."""
    T = float(temperature)
    ls = log_softmax(student_logits)
    ce = -ls[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)].mean()
    lt, lsT = log_softmax(np.asarray(teacher_logits) / T), log_softmax(np.asarray(student_logits) / T)
    kl = (np.exp(lt) * (lt - lsT)).sum(axis=1).mean()
    return float(alpha * ce + (1.0 - alpha) * T * T * kl)


# --- teacher-logit cache -------------------------------------------------------------

def digest_arrays(arrays: Iterable[np.ndarray]) -> str:
    """sha256 over dtype, shape and bytes of every array (teacher weights, inputs)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cache_dir(cfg: dict) -> Path:
    """``cfg['cache_dir']``, else ``$HWAI_CACHE``, else ``~/.cache/hwai``, + ``teacher_logits``."""
    root = cfg.get("cache_dir") or os.environ.get("HWAI_CACHE") or Path.home() / ".cache" / "hwai"
    return Path(root) / "teacher_logits"


def cached_logits(logits_fn: Callable[[np.ndarray], np.ndarray], weights: list[np.ndarray],
                  x: np.ndarray, folder: Path) -> tuple[np.ndarray, bool]:
    """Teacher logits for ``x``, from ``folder/<hash>.npz`` when present; (logits, was_cached).

    The key covers the teacher's weights and the inputs, so a retrained teacher or a
    different split can never reuse stale logits.
    """
    key = digest_arrays([*weights, np.asarray(x)])[:24]
    path = Path(folder) / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return z["logits"], True
    logits = np.asarray(logits_fn(x), dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    with open(tmp, "wb") as fh:
        np.savez(fh, logits=logits)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return logits, False


# --- reporting -----------------------------------------------------------------------

def distill_report(teacher_metrics: dict, student_metrics: dict,
                   teacher_cost: dict | None = None, student_cost: dict | None = None) -> dict:
    """Side-by-side metrics and costs, with student-minus-teacher deltas and cost ratios."""
    rep: dict = {"teacher": dict(teacher_metrics), "student": dict(student_metrics), "delta": {}}
    for k in sorted(set(teacher_metrics) & set(student_metrics)):
        t, s = teacher_metrics[k], student_metrics[k]
        if isinstance(t, (int, float)) and isinstance(s, (int, float)):
            rep["delta"][k] = float(s) - float(t)
    if teacher_cost is not None and student_cost is not None:
        rep["teacher_cost"], rep["student_cost"] = dict(teacher_cost), dict(student_cost)
        rep["cost_ratio"] = {k: float(student_cost[k]) / float(teacher_cost[k])
                             for k in sorted(set(teacher_cost) & set(student_cost))
                             if isinstance(teacher_cost[k], (int, float)) and teacher_cost[k]}
    return rep


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
