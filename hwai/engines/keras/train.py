"""Seeded Keras training loop shared by train, prune and quantize fine-tuning."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np

from hwai.data.dataset import Dataset

DEFAULTS = {"epochs": 10, "batch_size": 1024, "learning_rate": 1e-3, "patience": 5}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def epoch_logger(tag: str, log: Callable[[str], None] = _stderr) -> Any:
    """Callback printing one compact line per epoch: loss, val loss/acc, seconds."""
    import tensorflow as tf

    class EpochLine(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            val = f" val_loss {logs['val_loss']:.4f} val_acc {logs['val_accuracy']:.4f}" if "val_loss" in logs else ""
            log(f"[{tag}] epoch {epoch + 1}/{self.params.get('epochs')} loss {logs.get('loss', float('nan')):.4f}"
                f"{val} {time.perf_counter() - self._t0:.1f}s")

    return EpochLine()


def compile_model(model: Any, learning_rate: float) -> None:
    import tensorflow as tf

    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=float(learning_rate)),
                  loss=tf.keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])


def fit(model: Any, data: Dataset, cfg: dict, seed: int, tag: str, callbacks: list | None = None,
        early_stopping: bool = True) -> dict:
    """Compile with Adam + categorical cross-entropy and fit; returns the Keras history dict.

    Early stopping watches val loss and restores the best weights; it is off for pruning
    (the schedule must run to its end) and when there is no validation split.
    """
    import tensorflow as tf

    cfg = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    tf.keras.utils.set_random_seed(seed)  # python, numpy and TF seeds: init + shuffling repeat
    compile_model(model, cfg["learning_rate"])
    n_classes = model.output_shape[-1]
    has_val = len(data.y_val) > 0
    cbs = list(callbacks or []) + [epoch_logger(tag)]
    if early_stopping and has_val and cfg["patience"]:
        cbs.append(tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(cfg["patience"]),
                                                    restore_best_weights=True))
    history = model.fit(
        data.x_train, _one_hot(data.y_train, n_classes),
        validation_data=(data.x_val, _one_hot(data.y_val, n_classes)) if has_val else None,
        epochs=int(cfg["epochs"]), batch_size=int(cfg["batch_size"]), shuffle=True, verbose=0, callbacks=cbs,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[np.asarray(y, dtype=np.int64)]


def steps_per_epoch(data: Dataset, batch_size: int) -> int:
    return max(1, int(np.ceil(len(data.y_train) / int(batch_size))))
