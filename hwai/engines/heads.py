"""Training targets of a model with several outputs (the recipe's ``outputs:``), for every engine.

One loss per output, summed: a ``classify`` output learns the labels (one-hot targets, every
event weighs 1); a ``score`` output (one column) learns signal (1) against background (0), and
events of the classes it names in neither list weigh 0, so they do not pull the score either way.
The engines turn these arrays into their framework's losses (:mod:`hwai.engines.keras.heads`,
:mod:`hwai.engines.torch.heads`).
"""

from __future__ import annotations

import numpy as np


def targets(outputs: list[dict], y: np.ndarray, class_names: tuple[str, ...]) -> tuple[list, list]:
    """Per output, in order: the target array and the per-event weight."""
    y = np.asarray(y, dtype=np.int64)
    ys, ws = [], []
    for spec in outputs:
        if spec["task"] == "score":
            sig, bkg = (np.isin(y, [class_names.index(c) for c in spec[k]]) for k in ("signals", "background"))
            ys.append(sig.astype(np.float32)[:, None])
            ws.append((sig | bkg).astype(np.float32))
        else:
            ys.append(np.eye(len(class_names), dtype=np.float32)[y])
            ws.append(np.ones(len(y), np.float32))
    return ys, ws
