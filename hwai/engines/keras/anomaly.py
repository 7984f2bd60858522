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
``prune`` and ``quantize`` run their own code with this training loop (:func:`fit_for`,
:func:`fine_tune`) and fold the latent again afterwards; QAT quantises the latent before the
score (:func:`score_layers`), so the QKeras score equals the golden model's.

Why not the reconstruction error: measured on the hwai Pythia 8 jets (``bench/anomaly_scores.py``,
docs/anomaly.md), raw reconstruction error favours busy gluon jets, so its efficiency at a
1 % q/g rate stays below 1 %, while Σ mu² of the VAE reaches several per cent for top jets.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import epoch_end, learning_rate_at, seed_everything, train_config
from hwai.errors import DataError

SCORE_LAYER = "SumSquares"
LATENT_LAYER = "mu"   # the latent means: the layer the background statistics are folded into
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
    mu = L.Dense(int(latent), name=LATENT_LAYER, kernel_initializer="lecun_uniform")(x)
    return tf.keras.Model(inputs, score_class()(name="score")(mu), name=name)


def background_rows(data: Dataset, background: list[str], split: str) -> np.ndarray:
    """The ``split`` rows of the background classes (what the autoencoder learns)."""
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    return x[np.isin(y, _class_ids(data, background))]


def _class_ids(data: Dataset, background: list[str]) -> list[int]:
    missing = [c for c in background if c not in data.class_names]
    if missing:
        raise DataError(f"anomaly.background: class {missing[0]!r} is not in the data "
                        f"(classes: {', '.join(data.class_names)})")
    return [data.class_names.index(c) for c in background]


def background_data(data: Dataset, background: list[str]) -> Dataset:
    """``data`` with its train and val splits cut to the background rows: what every training
    step of an anomaly recipe sees, so a pruning schedule counts the batches it really runs.
    The test split keeps every class (the metrics need the signals)."""
    ids = _class_ids(data, background)
    keep = {s: np.isin(getattr(data, f"y_{s}"), ids) for s in ("train", "val")}
    return replace(data, **{f"{a}_{s}": getattr(data, f"{a}_{s}")[k] for s, k in keep.items() for a in "xy"})


def fit_vae(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Train ``model``'s encoder as a VAE on the background rows (best val loss), then fold the
    background's latent statistics into ``mu`` (:func:`refold`); returns ``model``."""
    fit_autoencoder(model, data, cfg, seed, tag="train")
    refold(model, data, cfg)
    return model


def fine_tune(step: Callable[..., Any], model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """An engine step (``prune_model``, ``quantize_model``) on an encoder: the step's own code on
    the background rows (its training loop is :func:`fit_for`'s autoencoder), then the latent
    folded again, since fine-tuning moves the latent means off the background's centre."""
    out = step(model, background_data(data, list(cfg["anomaly"]["background"])), cfg, seed)
    refold(out, data, cfg)
    return out


def skip_latent(cfg: dict) -> dict:
    """``prune`` settings with the latent layer ``mu`` left dense: :func:`refold` rewrites its
    kernel as ``K @ W`` after every step (a full matrix under ``mahalanobis``), so zeros pruned
    there would not survive; the encoder's other layers hold nearly all the multiplications."""
    skip = list(cfg.get("skip_layers") or [])
    return {**cfg, "skip_layers": skip + ([] if LATENT_LAYER in skip else [LATENT_LAYER])}


def refold(model: Any, data: Dataset, cfg: dict) -> None:
    """Fold the train split's background latent statistics into ``mu`` (``anomaly.score``)."""
    a = cfg["anomaly"]
    standardize_latent(model, background_rows(data, list(a["background"]), "train"),
                       whiten=a.get("score") == "mahalanobis")


def fit_for(cfg: dict) -> Callable[..., dict]:
    """The training loop of a prune/quantize step: the autoencoder's (:func:`fit_autoencoder`)
    for an anomaly recipe, the classifier's (:func:`hwai.engines.keras.train.fit`) otherwise;
    both take ``(model, data, cfg, seed, tag, callbacks, early_stopping)``."""
    from hwai.engines.keras.train import fit

    return fit_autoencoder if cfg.get("anomaly") else fit


def fit_autoencoder(model: Any, data: Dataset, cfg: dict, seed: int, tag: str, callbacks: list | None = None,
                    early_stopping: bool = True) -> dict:
    """:func:`hwai.engines.keras.train.fit` for an encoder: ``model`` (float, QKeras or wrapped by
    tfmot) inside a VAE, fitted with Keras on the background rows with the VAE loss
    ``MSE(x̂, x)·n_pixels + kl_weight·KL``; the callbacks (pruning steps, masks) see the encoder's
    own layers. Early stopping on the background's val loss restores the best epoch."""
    import tensorflow as tf

    from hwai.engines.keras.train import early_stopping_callback

    c = train_config(cfg)
    seed_everything(seed, "keras")
    bg = list(cfg["anomaly"]["background"])
    x, xv = background_rows(data, bg, "train"), background_rows(data, bg, "val")
    vae = _vae(model, kl_weight(cfg))
    vae.compile(optimizer=tf.keras.optimizers.Adam(float(c.learning_rate)), loss=_reconstruction_loss(x.shape[1:]))
    cbs = list(callbacks or []) + [_epoch_line(tag),
                                   tf.keras.callbacks.LearningRateScheduler(lambda e, _lr: learning_rate_at(c, e))]
    if early_stopping and len(xv):
        cbs.append(early_stopping_callback(vae, c.patience))
    history = vae.fit(x, x, validation_data=(xv, xv) if len(xv) else None, epochs=c.epochs,
                      batch_size=c.batch_size, shuffle=True, verbose=0, callbacks=cbs)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def kl_weight(cfg: dict) -> float:
    """The step's ``kl_weight``, else the train step's (``anomaly_training``), else 1 (a VAE)."""
    return float(cfg.get("kl_weight", cfg["anomaly"].get("kl_weight", 1.0)))


def standardize_latent(model: Any, background: np.ndarray, whiten: bool = False) -> None:
    """Fold ``(mu - m) / s`` into the ``mu`` layer, with m, s the background's mean and spread of
    each latent mean: the score becomes a distance from the background's centre in units of its
    spread, and the latent means span O(1) whatever scale training left them at (a VAE whose KL
    term shrinks mu to ~1e-3 would otherwise lose its score to the fixed-point grid).
    ``whiten``: fold ``(mu - m) @ W`` instead, ``W`` the background covariance's inverse square
    root (:func:`whitening`), so Σ z² is the Mahalanobis distance from the background's centre.
    A QKeras ``mu`` is folded from its quantised weights (what its forward pass used); its
    quantizers then put the folded weights on their grid, and ``lower`` reads them through the
    same quantizers, so the firmware equals the QKeras model after the fold too."""
    import tensorflow as tf

    layer = model.get_layer(LATENT_LAYER)
    mu = tf.keras.Model(model.input, layer.output).predict(background, batch_size=4096, verbose=0)
    m = mu.mean(axis=0, dtype=np.float64)
    w = whitening(mu) if whiten else np.diag(1.0 / np.maximum(mu.std(axis=0, dtype=np.float64), 1e-12))
    kernel, bias = _effective_weights(layer)
    layer.set_weights([(kernel @ w).astype(np.float32), ((bias - m) @ w).astype(np.float32)])


def _effective_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """A Dense/QDense's kernel and bias as its forward pass uses them (after QKeras' quantizers)."""
    kernel, bias = layer.get_weights()
    kq, bq = (getattr(layer, f"{k}_quantizer_internal", None) for k in ("kernel", "bias"))
    return (np.asarray(kq(kernel)) if kq else kernel), (np.asarray(bq(bias)) if bq else bias)


def whitening(mu: np.ndarray) -> np.ndarray:
    """``W = V Λ^(-1/2)`` from the eigen-decomposition ``V Λ Vᵀ`` of ``mu``'s covariance:
    ``(mu - m) @ W`` has unit covariance, and ``Σ z²`` is the Mahalanobis distance (a latent
    direction the background never moves along keeps a 1e-12 floor on its spread, as above)."""
    lam, vec = np.linalg.eigh(np.cov(np.asarray(mu, dtype=np.float64), rowvar=False))
    vec = vec * np.where(vec[np.abs(vec).argmax(axis=0), range(len(lam))] < 0, -1.0, 1.0)  # one sign: deterministic
    return vec / np.sqrt(np.maximum(lam, 1e-24))


def score_layers(layer: Any, spec: dict) -> list[Any]:
    """QAT of the score layer: the latent means on the ``quantized_bits(bits, integer, alpha=1)``
    grid of ``spec['activation']`` (``<score>_in``), then Σ z². The firmware squares exactly
    these codes, and Keras' float32 sum of their squares is exact while
    ``2·(bits - 1) + log2(latent) <= 24`` (10 bits for 16 latent means): the golden model then
    equals the QKeras score on every vector. Unquantised, the latent means carry the sum of the
    weight and activation fractions, and float32 would round their squares."""
    from qkeras import QActivation, quantized_bits

    a = spec["activation"]
    return [QActivation(quantized_bits(a["bits"], a["integer"], alpha=1), name=f"{layer.name}_in"),
            score_class()(name=layer.name)]


def _vae(model: Any, kl_weight: float) -> Any:
    """The training model around the encoder ``model``: the latent the score squares (``z``; a
    reparameterised sample beside a log-variance head when ``kl_weight`` > 0, whose KL term is
    added to the loss) into a dense decoder back to the input's shape."""
    import tensorflow as tf

    L = tf.keras.layers
    shape = tuple(int(d) for d in model.input_shape[1:])
    x = tf.keras.Input(shape=shape, name="vae_input")
    z, mu_in = _encoder_chain(model, x)
    if kl_weight > 0:
        log_var = L.Dense(int(z.shape[-1]), name="log_var")(mu_in)
        z = _sampler(kl_weight)(name="sample")([z, log_var])
    y = z
    for units in reversed(_hidden_units(model) or [32]):
        y = L.Dense(units, activation="relu")(y)
    y = L.Reshape(shape)(L.Dense(int(np.prod(shape)))(y))
    return tf.keras.Model(x, y, name=f"{model.name}_vae")


def _encoder_chain(model: Any, x: Any) -> tuple[Any, Any]:
    """(what the score squares, the latent layer's input) for ``x``: the encoder's layers called
    again up to the score. The same layer objects, so training moves the encoder's weights; a
    fresh call, because a layer tfmot's clone re-used still points at its first model's tensors."""
    mu_in = x
    for layer in model.layers[:-1]:
        if type(layer).__name__ == "InputLayer":
            continue
        if layer.trainable_weights:
            mu_in = x
        x = layer(x)
    return x, mu_in


def _hidden_units(model: Any) -> list[int]:
    """Widths of the encoder's hidden Dense layers ``fc*`` (seen through tfmot's wrapper)."""
    inner = [getattr(l, "layer", l) for l in model.layers]
    return [int(l.units) for l in inner if l.name.startswith("fc")]


def _sampler(kl_weight: float) -> Any:
    """Keras layer ``[mu, log_var] -> z``: ``mu + σ·ε`` while training, ``mu`` otherwise; adds
    ``kl_weight · KL(q(z|x) || N(0, 1))`` (batch mean) to the model's loss."""
    import tensorflow as tf

    class Sample(tf.keras.layers.Layer):
        def call(self, inputs: Any, training: Any = None) -> Any:
            mu, lv = inputs
            kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1.0 + lv - tf.square(mu) - tf.exp(lv), axis=1))
            self.add_loss(kl_weight * kl)
            if not training:
                return mu
            return mu + tf.exp(0.5 * lv) * tf.random.normal(tf.shape(mu))

    return Sample


def _reconstruction_loss(shape: tuple[int, ...]) -> Any:
    """Per-row mean squared error times the pixels per row (the reconstruction term of the VAE loss)."""
    import tensorflow as tf

    n_pix = float(np.prod(shape))
    axes = list(range(1, 1 + len(shape)))
    return lambda x, x_hat: tf.reduce_mean(tf.square(x_hat - x), axis=axes) * n_pix


def _epoch_line(tag: str) -> Any:
    """Callback: one line per epoch (loss, val loss, seconds) and the epoch listeners, told the
    negative val loss (an autoencoder has no accuracy; higher is better there)."""
    import tensorflow as tf

    class EpochLine(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs, total = logs or {}, int(self.params.get("epochs") or 0)
            val = logs.get("val_loss", float("nan"))
            print(f"[{tag}] epoch {epoch + 1}/{total} loss {logs.get('loss', float('nan')):.4f} "
                  f"val_loss {val:.4f} {time.perf_counter() - self._t0:.1f}s", file=sys.stderr, flush=True)
            epoch_end(tag, epoch + 1, total, -val)

    return EpochLine()
