"""Training targets and losses of a model with several outputs (the recipe's ``outputs:``).

One loss per output, summed: a ``classify`` output (softmax over the data classes) learns
the labels with categorical cross-entropy; a ``score`` output (one column) learns signal
(1) against background (0) with binary cross-entropy, and events of the classes it names
in neither list weigh 0, so they do not pull the score either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.engines.keras.models import activation_name, output_layers


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


def losses(model: Any, outputs: list[dict]) -> list[Any]:
    """Per output: categorical cross-entropy (classify; the head ends in its softmax) or binary
    cross-entropy (score; on the logit unless the output layer ends in a sigmoid)."""
    import tensorflow as tf

    out = []
    for spec, layer in zip(outputs, output_layers(model)):
        if spec["task"] == "score":
            out.append(tf.keras.losses.BinaryCrossentropy(from_logits=activation_name(layer) != "sigmoid"))
        else:
            out.append(tf.keras.losses.CategoricalCrossentropy())
    return out


def metrics(outputs: list[dict]) -> list[list[str]]:
    """Accuracy for the classify outputs (``<output layer>_accuracy`` in Keras' logs), none for scores."""
    return [["accuracy"] if spec["task"] == "classify" else [] for spec in outputs]


def val_accuracy(logs: dict) -> float | None:
    """The epoch's validation accuracy: Keras' ``val_accuracy``, or with several outputs the
    (alphabetically) first ``val_<output>_accuracy`` (only classify outputs have one)."""
    if "val_accuracy" in logs:
        return logs["val_accuracy"]
    keys = sorted(k for k in logs if k.startswith("val_") and k.endswith("_accuracy"))
    return logs[keys[0]] if keys else None
