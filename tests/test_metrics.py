"""Physics metrics against hand-worked cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwai.metrics import as_probabilities, background_rejection, classification_metrics, softmax

pytestmark = pytest.mark.unit


def test_perfect_separation_gives_auc_one_and_unresolved_rejection() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[y] * 0.8 + 0.2 / 3
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == 1.0 and m["macro_auc"] == 1.0
    assert m["auc"] == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert m["rejection"]["a"] is None  # eps_B = 0: beyond what 4 background events resolve
    json.dumps(m, allow_nan=False)  # strict JSON


def test_rejection_hand_worked() -> None:
    # Signal scores 0.9 0.8 0.7 0.6, background 0.85 0.5 0.4 0.3: cutting at >= 0.8 keeps
    # 2/4 signal (eps_S = 0.5) and 1/4 background (eps_B = 0.25) -> rejection 4.
    is_sig = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.85, 0.5, 0.4, 0.3])
    assert background_rejection(is_sig, score, 0.5) == pytest.approx(4.0)
    # eps_S = 1 needs the cut at 0.6, letting background 0.85 through only -> eps_B 0.25 still
    assert background_rejection(is_sig, score, 1.0) == pytest.approx(4.0)
    # AUC: of 16 signal/background pairs, background 0.85 beats signal 0.8, 0.7, 0.6 -> 13/16
    m = classification_metrics(is_sig.astype(int), np.stack([1 - score, score], axis=1), ["bkg", "sig"])
    assert m["auc"]["sig"] == pytest.approx(13 / 16)
    assert m["rejection"]["sig"] == pytest.approx(4.0)


def test_logits_and_probabilities_give_same_metrics() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=500)
    logits = rng.normal(size=(500, 4)) + 2.0 * np.eye(4)[y]
    from_logits = classification_metrics(y, logits, list("abcd"), signal_efficiency=0.3)
    from_probs = classification_metrics(y, softmax(logits), list("abcd"), signal_efficiency=0.3)
    for key in ("auc", "rejection"):
        assert from_logits[key] == pytest.approx(from_probs[key])
    assert from_logits["accuracy"] == from_probs["accuracy"]
    assert 0.5 < from_logits["macro_auc"] < 1.0 and from_logits["signal_efficiency"] == 0.3
    np.testing.assert_allclose(as_probabilities(logits).sum(axis=1), 1.0)


def test_absent_class_and_shape_errors() -> None:
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([[2.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 3, 0]]), ["a", "b", "c"])
    assert m["auc"]["c"] is None and m["rejection"]["c"] is None
    assert m["macro_auc"] == 1.0
    with pytest.raises(ValueError, match="does not match"):
        classification_metrics(y, np.zeros((4, 2)), ["a", "b", "c"])
