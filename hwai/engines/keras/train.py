"""Seeded Keras training loop shared by train, prune and quantize fine-tuning."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import EarlyStopping, epoch_end, learning_rate_at, seed_everything, train_config
from hwai.engines.core import steps_per_epoch as _steps
from hwai.engines.keras import heads
from hwai.engines.keras.models import model_inputs


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def epoch_logger(tag: str, log: Callable[[str], None] = _stderr) -> Any:
    """Callback printing one compact line per epoch (loss, val loss/acc, seconds) and telling
    the epoch listeners (:func:`hwai.engines.core.epoch_end`)."""
    import tensorflow as tf

    class EpochLine(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            acc = heads.val_accuracy(logs)   # several outputs: a classify output's
            val = ((f" val_loss {logs['val_loss']:.4f}" + ("" if acc is None else f" val_acc {acc:.4f}"))
                   if "val_loss" in logs else "")
            log(f"[{tag}] epoch {epoch + 1}/{self.params.get('epochs')} loss {logs.get('loss', float('nan')):.4f}"
                f"{val} {time.perf_counter() - self._t0:.1f}s")
            if acc is not None:
                epoch_end(tag, epoch + 1, int(self.params.get("epochs") or 0), acc)

    return EpochLine()


def compile_model(model: Any, learning_rate: float, outputs: list[dict] | None = None) -> None:
    """Adam + categorical cross-entropy; with the recipe's ``outputs:`` one loss per output
    (:mod:`hwai.engines.keras.heads`)."""
    import tensorflow as tf

    optimizer = tf.keras.optimizers.Adam(learning_rate=float(learning_rate))
    if outputs:
        model.compile(optimizer=optimizer, loss=heads.losses(model, outputs), metrics=heads.metrics(outputs),
                      weighted_metrics=[])   # the weights are the score's loss mask, not metric weights
        return
    model.compile(optimizer=optimizer, loss=tf.keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])


def fit_targets(model: Any, data: Dataset, cfg: dict) -> tuple[tuple, tuple | None]:
    """(x, y[, weights]) for training and for validation (None without val rows): one-hot
    labels, or per output its target and event weights (``cfg['outputs']``)."""
    parts = [(data.x_train, data.y_train), (data.x_val, data.y_val)]
    if cfg.get("outputs"):
        out = [(model_inputs(model, x), *heads.targets(cfg["outputs"], y, tuple(data.class_names))) for x, y in parts]
    else:
        out = [(model_inputs(model, x), _one_hot(y, model.output_shape[-1])) for x, y in parts]
    return out[0], (out[1] if len(data.y_val) > 0 else None)


def fit(model: Any, data: Dataset, cfg: dict, seed: int, tag: str, callbacks: list | None = None,
        early_stopping: bool = True) -> dict:
    """Compile with Adam + categorical cross-entropy and fit; returns the Keras history dict.

    Early stopping is :class:`hwai.engines.core.EarlyStopping` (the torch engine's rule:
    best val-loss weights restored at the end); it is off for pruning (the schedule must
    run to its end) and when there is no validation split. Defaults: ``core.train_config``.
    """
    c = train_config(cfg)
    seed_everything(seed, "keras")  # python, numpy and TF seeds, deterministic ops
    compile_model(model, c.learning_rate, cfg.get("outputs"))
    train, val = fit_targets(model, data, cfg)
    has_val = val is not None
    cbs = list(callbacks or []) + [epoch_logger(tag)]
    if c.lr_schedule != "constant":
        import tensorflow as tf

        cbs.append(tf.keras.callbacks.LearningRateScheduler(lambda epoch, _lr: learning_rate_at(c, epoch)))
    if early_stopping and has_val:
        cbs.append(early_stopping_callback(model, c.patience))
    history = model.fit(
        train[0], train[1], sample_weight=train[2] if len(train) > 2 else None, validation_data=val,
        epochs=c.epochs, batch_size=c.batch_size, shuffle=True, verbose=0, callbacks=cbs,
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def early_stopping_callback(model: Any, patience: int) -> Any:
    """A Keras callback driving the shared :class:`~hwai.engines.core.EarlyStopping`."""
    import tensorflow as tf

    keeper = EarlyStopping(patience, model.get_weights, model.set_weights)

    class BestEpoch(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if keeper.update(float((logs or {})["val_loss"])):
                self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            keeper.restore()

    return BestEpoch()


def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[np.asarray(y, dtype=np.int64)]


def steps_per_epoch(data: Dataset, batch_size: int) -> int:
    return _steps(len(data.y_train), batch_size)
