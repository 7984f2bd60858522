"""Knowledge distillation for the Keras engine (loss: :func:`hwai.distill.kd_loss`).

The student is the engine's canonical model (``fc1, relu1, ..., output, softmax``);
training runs on its pre-softmax sub-model, which shares the layers, so the returned
model keeps its softmax layer and its layer names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.distill import cache_dir, cached_logits, settings
from hwai.engines.core import (
    EarlyStopping,
    epoch_end,
    learning_rate_at,
    seed_everything,
    train_config,
    with_train_defaults,
)


def kd_loss_tf(s: Any, t: Any, y: Any, temperature: float, alpha: float) -> Any:
    """alpha*CE + (1-alpha)*T²*KL(softmax(t/T) || softmax(s/T)), batch mean (Hinton 2015)."""
    import tensorflow as tf

    T = float(temperature)
    ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=s))
    lt, ls = tf.nn.log_softmax(t / T, axis=1), tf.nn.log_softmax(s / T, axis=1)
    kl = tf.reduce_mean(tf.reduce_sum(tf.exp(lt) * (lt - ls), axis=1))
    return alpha * ce + (1.0 - alpha) * T * T * kl


def teacher_logits(teacher: Any, x: np.ndarray, cfg: dict) -> np.ndarray:
    """Cached pre-softmax teacher outputs (key: teacher weights + inputs)."""
    from hwai.engines.keras.models import logit_model

    sub = logit_model(teacher)
    fn = lambda a: sub.predict(np.asarray(a, np.float32), batch_size=4096, verbose=0)  # noqa: E731
    return cached_logits(fn, [np.asarray(w) for w in teacher.get_weights()], x, cache_dir(cfg))[0]


def distill_keras(student: Any, teacher: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Train ``student`` (built as jet_mlp from ``cfg['student']`` when None) on the KD loss;
    returns it with the best-validation-loss weights restored."""
    import tensorflow as tf

    from hwai.engines.keras.models import logit_model

    c = with_train_defaults(settings(cfg))
    if student is None:
        from hwai.engines.keras.models import JET_MLP_HIDDEN, build_jet_mlp

        hidden = (c.get("student") or {}).get("hidden") or JET_MLP_HIDDEN
        student = build_jet_mlp(data.n_features, data.n_classes, hidden, seed, name="student")
    seed_everything(int(seed), "keras")
    sub = logit_model(student)
    tt = teacher_logits(teacher, data.x_train, c).astype(np.float32)
    tv = teacher_logits(teacher, data.x_val, c).astype(np.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=float(c["learning_rate"]))
    step = _train_step(sub, opt, float(c["temperature"]), float(c["alpha"]))
    rng = np.random.default_rng(int(seed))
    keeper = EarlyStopping(int(c["patience"] or 0), student.get_weights, student.set_weights)
    schedule = train_config(c)
    for epoch in range(int(c["epochs"])):
        opt.learning_rate.assign(learning_rate_at(schedule, epoch))
        tr = _epoch(step, data, tt, int(c["batch_size"]), rng)
        sv = sub(np.asarray(data.x_val, np.float32), training=False)
        va = float(kd_loss_tf(sv, tv, data.y_val.astype(np.int64), c["temperature"], c["alpha"]))
        acc = float(np.mean(np.argmax(sv.numpy(), axis=1) == data.y_val))
        print(f"[hwai] distill epoch {epoch + 1}/{c['epochs']}  kd_loss {tr:.4f}  "
              f"val_kd_loss {va:.4f}  val_acc {acc:.4f}", flush=True)
        epoch_end("distill", epoch + 1, int(c["epochs"]), acc)
        if keeper.update(va):
            break
    keeper.restore()
    return student


def _train_step(sub: Any, opt: Any, T: float, alpha: float) -> Any:
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(x: Any, y: Any, t: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = kd_loss_tf(sub(x, training=True), t, y, T, alpha)
        grads = tape.gradient(loss, sub.trainable_variables)
        opt.apply_gradients(zip(grads, sub.trainable_variables))
        return loss
    return step


def _epoch(step: Any, data: Dataset, tt: np.ndarray, batch: int, rng: np.random.Generator) -> float:
    x = np.asarray(data.x_train, np.float32)
    y = np.asarray(data.y_train, np.int64)
    order = rng.permutation(len(x))
    total = 0.0
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        total += float(step(x[idx], y[idx], tt[idx])) * len(idx)
    return total / max(len(x), 1)
