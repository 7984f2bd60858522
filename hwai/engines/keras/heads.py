"""Keras losses of a model with several outputs (the recipe's ``outputs:``).

One loss per output, summed: a ``classify`` output (softmax over the data classes) learns
the labels with categorical cross-entropy; a ``score`` output (one column) learns signal
(1) against background (0) with binary cross-entropy. The targets and event weights are
the engines' shared rule, :func:`hwai.engines.heads.targets`.
"""

from __future__ import annotations

from typing import Any

from hwai.engines.heads import targets
from hwai.engines.keras.models import activation_name, output_layers

__all__ = ["losses", "metrics", "targets", "val_accuracy"]   # targets: the shared rule, used by train.fit_targets


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
