"""anomaly_metrics: efficiency at a background rate (hand-computed threshold) and AUC (sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hwai.metrics import anomaly_metrics, rate_threshold

NAMES = ("g", "q", "W", "Z", "t")


@pytest.mark.unit
def test_threshold_keeps_the_rate_of_background() -> None:
    bkg = np.arange(1, 101, dtype=float)           # 100 background scores 1..100
    assert rate_threshold(bkg, 0.05) == 95.0        # score > 95 keeps 96..100: 5 %
    assert rate_threshold(bkg, 0.001) == 100.0      # floor(0.1) = 0: nothing passes
    with pytest.raises(ValueError, match="background rate 1.5 must be in"):
        rate_threshold(bkg, 1.5)


@pytest.mark.unit
def test_hand_computed_efficiency_and_sklearn_auc() -> None:
    y = np.array([0] * 50 + [1] * 50 + [2] * 10 + [4] * 10)
    score = np.concatenate([np.arange(50), np.arange(50, 100),          # g, q: 0..99
                            [99.5, 98.5, 97, 96, 10, 20, 30, 40, 50, 60],   # W: 2 above 98
                            np.arange(10) + 100.0])                        # t: all above
    m = anomaly_metrics(y, score, NAMES, ["g", "q"], ["W", "Z", "t"], rate=0.01)
    assert m["threshold"] == 98.0 and m["background_rate"] == 0.01       # only 99 passes
    assert m["efficiency"] == {"W": 0.2, "Z": None, "t": 1.0}
    w = np.isin(y, [0, 1, 2])
    assert m["auc"]["W"] == pytest.approx(roc_auc_score(y[w] == 2, score[w]))
    assert m["auc"]["t"] == 1.0 and m["auc"]["Z"] is None
    assert m["n_events"] == {"g": 50, "q": 50, "W": 10, "Z": 0, "t": 10}
