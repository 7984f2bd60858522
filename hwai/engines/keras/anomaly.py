"""Anomaly-detection models (recipe ``anomaly:``): an encoder whose output is the anomaly score.

The firmware model is a chain ``image -> encoder -> mu (latent means) -> SumSquares -> score``:
the score is ``Σ mu_i²``, the distance of the latent means from the prior's centre (AXOL1TL's
choice for its VAE trigger). Training wraps that chain in a variational autoencoder
(Kingma & Welling 2014): a log-variance head beside ``mu`` and a dense decoder, trained on
background jets only with ``MSE(x̂, x) · n_pixels + kl_weight · KL``. Only the encoder chain is
kept, lowered and built; the decoder and the log-variance head exist only while training.
After training, the background's mean and spread of each latent mean are folded into the ``mu``
layer (:func:`standardize_latent`), so the score is a normalised distance from the background;
``anomaly.score: mahalanobis`` folds the background's whole latent covariance instead (whitening),
so the score is the Mahalanobis distance from the background's centre.

Why not the reconstruction error: measured on the hwai Pythia 8 jets (``bench/anomaly_scores.py``,
docs/anomaly.md), raw reconstruction error favours busy gluon jets, so its efficiency at a
1 % q/g rate stays below 1 %, while Σ mu² of the VAE reaches several per cent for top jets.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import EarlyStopping, epoch_end, learning_rate_at, seed_everything, train_config
from hwai.errors import DataError

SCORE_LAYER = "SumSquares"
DENSE_HIDDEN, CONV_FILTERS, LATENT = (64, 32), (8, 8), 8


def sum_squares_layer() -> Any:
    """The Keras layer class computing Σ x_i² over the last axis, keeping it (N, 1)."""
    import tensorflow as tf

    @tf.keras.utils.register_keras_serializable(package="hwai")
    class SumSquares(tf.keras.layers.Layer):
        """The anomaly score: the sum of squares of the latent means (lowered to ``sum_squares``)."""

        def call(self, x: Any) -> Any:
            return tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)

    return SumSquares


_CLASS: Any = None


def score_class() -> Any:
    """The one SumSquares class (Keras wants one registered class per name)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = sum_squares_layer()
    return _CLASS


def is_anomaly_model(model: Any) -> bool:
    return bool(model.layers) and type(model.layers[-1]).__name__ == SCORE_LAYER


def build_dense_encoder(in_shape: tuple[int, ...], hidden: list[int] | tuple[int, ...], latent: int,
                        seed: int, name: str = "dense_encoder") -> Any:
    """(Flatten for an image) -> Dense/ReLU ``hidden`` -> Dense(latent) ``mu`` -> SumSquares ``score``."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = tf.keras.Input(shape=tuple(in_shape), name="input")
    if len(in_shape) > 1:
        x = L.Flatten(name="flatten")(x)
    return _head(inputs, x, hidden, latent, name)


def build_conv2d_encoder(in_shape: tuple[int, ...], filters: list[int] | tuple[int, ...],
                         hidden: list[int] | tuple[int, ...], latent: int, seed: int,
                         name: str = "conv2d_encoder") -> Any:
    """Conv2D(3x3, stride 2, same)/ReLU per ``filters`` -> Flatten -> the dense head."""
    import tensorflow as tf

    if len(in_shape) != 3:
        raise DataError(f"model.arch conv2d_encoder needs (H, W, C) images, the data has rows of shape "
                        f"{tuple(in_shape)}; set data.inputs: image without data.image.flatten")
    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = tf.keras.Input(shape=tuple(in_shape), name="input")
    for i, f in enumerate(filters, start=1):
        x = L.Conv2D(int(f), 3, strides=2, padding="same", name=f"conv{i}", kernel_initializer="lecun_uniform")(x)
        x = L.Activation("relu", name=f"conv{i}_relu")(x)
    return _head(inputs, L.Flatten(name="flatten")(x), hidden, latent, name)


def _head(inputs: Any, x: Any, hidden: list[int] | tuple[int, ...], latent: int, name: str) -> Any:
    import tensorflow as tf

    L = tf.keras.layers
    for i, units in enumerate(hidden, start=1):
        x = L.Dense(int(units), name=f"fc{i}", kernel_initializer="lecun_uniform")(x)
        x = L.Activation("relu", name=f"relu{i}")(x)
    mu = L.Dense(int(latent), name="mu", kernel_initializer="lecun_uniform")(x)
    return tf.keras.Model(inputs, score_class()(name="score")(mu), name=name)


def background_rows(data: Dataset, background: list[str], split: str) -> np.ndarray:
    """The ``split`` rows of the background classes (what the autoencoder learns)."""
    missing = [c for c in background if c not in data.class_names]
    if missing:
        raise DataError(f"anomaly.background: class {missing[0]!r} is not in the data "
                        f"(classes: {', '.join(data.class_names)})")
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    return x[np.isin(y, [data.class_names.index(c) for c in background])]


def fit_vae(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Train ``model``'s encoder as a VAE on the background rows; returns ``model`` (best val loss)."""
    import tensorflow as tf

    c = train_config(cfg)
    seed_everything(seed, "keras")
    background = list(cfg["anomaly"]["background"])
    x, xv = background_rows(data, background, "train"), background_rows(data, background, "val")
    enc, dec = _vae_parts(model, seed)
    opt = tf.keras.optimizers.Adam(float(c.learning_rate))
    step = _vae_step(enc, dec, float(cfg.get("kl_weight", 1.0)), opt)
    parts = (enc, dec)
    keeper = EarlyStopping(c.patience, lambda: [p.get_weights() for p in parts],
                           lambda ws: [p.set_weights(w) for p, w in zip(parts, ws)])
    rng = np.random.default_rng(seed)
    for epoch in range(1, c.epochs + 1):
        t0 = time.perf_counter()
        opt.learning_rate.assign(learning_rate_at(c, epoch - 1))
        loss = _epoch(step, x, rng, c.batch_size)
        val = float(np.mean([step(tf.constant(xv[i:i + 4096]), False) for i in range(0, len(xv), 4096)]))
        print(f"[train] epoch {epoch}/{c.epochs} loss {loss:.4f} val_loss {val:.4f} "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        epoch_end("train", epoch, c.epochs, -val)
        if keeper.update(val):
            break
    keeper.restore()
    standardize_latent(model, x, whiten=cfg["anomaly"].get("score") == "mahalanobis")
    return model


def standardize_latent(model: Any, background: np.ndarray, whiten: bool = False) -> None:
    """Fold ``(mu - m) / s`` into the ``mu`` layer, with m, s the background's mean and spread of
    each latent mean: the score becomes a distance from the background's centre in units of its
    spread, and the latent means span O(1) whatever scale training left them at (a VAE whose KL
    term shrinks mu to ~1e-3 would otherwise lose its score to the fixed-point grid).
    ``whiten``: fold ``(mu - m) @ W`` instead, ``W`` the background covariance's inverse square
    root (:func:`whitening`), so Σ z² is the Mahalanobis distance from the background's centre."""
    import tensorflow as tf

    layer = model.get_layer("mu")
    mu = tf.keras.Model(model.input, layer.output).predict(background, batch_size=4096, verbose=0)
    m = mu.mean(axis=0, dtype=np.float64)
    w = whitening(mu) if whiten else np.diag(1.0 / np.maximum(mu.std(axis=0, dtype=np.float64), 1e-12))
    kernel, bias = layer.get_weights()
    layer.set_weights([(kernel @ w).astype(np.float32), ((bias - m) @ w).astype(np.float32)])


def whitening(mu: np.ndarray) -> np.ndarray:
    """``W = V Λ^(-1/2)`` from the eigen-decomposition ``V Λ Vᵀ`` of ``mu``'s covariance:
    ``(mu - m) @ W`` has unit covariance, and ``Σ z²`` is the Mahalanobis distance (a latent
    direction the background never moves along keeps a 1e-12 floor on its spread, as above)."""
    lam, vec = np.linalg.eigh(np.cov(np.asarray(mu, dtype=np.float64), rowvar=False))
    vec = vec * np.where(vec[np.abs(vec).argmax(axis=0), range(len(lam))] < 0, -1.0, 1.0)  # one sign: deterministic
    return vec / np.sqrt(np.maximum(lam, 1e-24))


def _epoch(step: Any, x: np.ndarray, rng: np.random.Generator, batch: int) -> float:
    import tensorflow as tf

    idx = rng.permutation(len(x))
    losses = [float(step(tf.constant(x[idx[i:i + batch]]), True)) for i in range(0, len(x), batch)]
    return float(np.mean(losses))


def _vae_parts(model: Any, seed: int) -> tuple[Any, Any]:
    """(encoder returning [mu, log_var], decoder latent -> input shape) around ``model``'s layers."""
    import tensorflow as tf

    L = tf.keras.layers
    mu_layer = model.get_layer("mu")
    latent = int(mu_layer.units)
    log_var = L.Dense(latent, name="log_var")(mu_layer.input)
    enc = tf.keras.Model(model.input, [mu_layer.output, log_var])
    shape = tuple(int(d) for d in model.input_shape[1:])
    z = y = tf.keras.Input(shape=(latent,))
    for units in reversed([int(l.units) for l in model.layers if l.name.startswith("fc")] or [32]):
        y = L.Dense(units, activation="relu")(y)
    y = L.Reshape(shape)(L.Dense(int(np.prod(shape)))(y))
    return enc, tf.keras.Model(z, y)


def _vae_step(enc: Any, dec: Any, kl_weight: float, opt: Any) -> Any:
    """One batch: reparameterised sample, reconstruction + kl_weight · KL; applies gradients when training."""
    import tensorflow as tf

    n_pix = float(np.prod(enc.input_shape[1:]))
    variables = enc.trainable_variables + dec.trainable_variables

    @tf.function
    def step(xb: Any, training: bool) -> Any:
        with tf.GradientTape() as tape:
            mu, lv = enc(xb, training=training)
            z = mu + tf.exp(0.5 * lv) * tf.random.normal(tf.shape(mu)) if kl_weight > 0 else mu
            rec = tf.reduce_mean(tf.square(dec(z, training=training) - xb)) * n_pix
            kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1.0 + lv - tf.square(mu) - tf.exp(lv), axis=1))
            loss = rec + kl_weight * kl
        if training:
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step
