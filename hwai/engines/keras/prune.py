"""Magnitude pruning with tensorflow-model-optimization.

Why tfmot: it is what the hls4ml tutorial (part 3) uses, so hwai's pruned models match
what the community reproduces; the library keeps the masks and re-applies them after
every optimizer step (``UpdatePruningStep``), so no hand-written masking can drift.
``strip_pruning`` then returns plain Dense/QDense layers with exact zeros, which the
frontend sees as ordinary weights (and the codegen can skip as zero multiplies).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.keras.models import canonicalize
from hwai.engines.keras.train import DEFAULTS, fit, steps_per_epoch
from hwai.errors import HwaiError


def kernel_sparsity(model: Any, quantized: bool = True) -> dict[str, float]:
    """Fraction of exactly-zero kernel entries per weight layer.

    With ``quantized`` the QKeras kernel quantizer is applied first: a weight that
    quantizes to zero costs no multiplier either, so that is the sparsity hardware sees.
    """
    out = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        w = kernel.numpy()
        quantizer = getattr(layer, "kernel_quantizer_internal", None)
        if quantized and quantizer is not None:
            w = np.asarray(quantizer(w))
        out[layer.name] = float(np.mean(w == 0.0))
    return out


def private_copy(model: Any) -> Any:
    """Clone with the same weights: tfmot wraps layers in place, the input model must not change."""
    import tensorflow as tf

    clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def wrap_layers(model: Any, schedules: dict[str, Any]) -> Any:
    """Wrap each layer named in ``schedules`` with ``prune_low_magnitude``; others unchanged."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    def wrap(layer: Any) -> Any:
        if layer.name in schedules:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedules[layer.name])
        return layer

    return tf.keras.models.clone_model(model, clone_function=wrap)


def make_schedule(kind: str, sparsity: float, total_steps: int) -> Any:
    """Pruning schedule whose last mask update reaches ``sparsity`` before training ends.

    Polynomial (Zhu & Gupta 2017, arXiv:1710.01878) ramps over the first half of the steps
    with ~10 mask updates, so the second half fine-tunes at the final sparsity; constant
    prunes to the target at step 0 and re-applies it once per ~epoch.
    """
    import tensorflow_model_optimization as tfmot

    if kind == "constant":
        return tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=max(1, total_steps // 10))
    if kind != "polynomial":
        raise HwaiError(f"prune.schedule '{kind}' is not supported; use 'polynomial' or 'constant'")
    ramp = max(1, (total_steps - 1) // 2)
    updates = min(10, ramp)
    frequency = max(1, ramp // updates)
    return tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
                                                end_step=frequency * updates, frequency=frequency)


def prune_model(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Prune the kernels of all weight layers (minus ``skip_layers``) to ``cfg['sparsity']``."""
    import tensorflow_model_optimization as tfmot

    target = float(cfg["sparsity"])
    if not 0.0 <= target < 1.0:
        raise HwaiError(f"prune.sparsity must be in [0, 1), got {target}")
    if cfg.get("structured"):
        raise HwaiError("prune.structured is not supported by the Keras engine yet; set structured: false")
    base = private_copy(canonicalize(model))
    names = [l.name for l in base.layers if getattr(l, "kernel", None) is not None]
    skip = set(cfg.get("skip_layers") or [])
    unknown = sorted(skip - set(names))
    if unknown:
        raise HwaiError(f"prune.skip_layers {unknown} not in the model; weight layers: {', '.join(names)}")
    epochs = int(cfg.get("epochs") or DEFAULTS["epochs"])
    total = epochs * steps_per_epoch(data, cfg.get("batch_size") or DEFAULTS["batch_size"])
    schedules = {n: make_schedule(cfg.get("schedule", "polynomial"), target, total) for n in names if n not in skip}
    wrapped = wrap_layers(base, schedules)
    fit(wrapped, data, {**cfg, "epochs": epochs}, seed, tag="prune",
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], early_stopping=False)
    # A fresh copy: stripping re-uses layer objects that are also wired into `wrapped`.
    pruned = private_copy(tfmot.sparsity.keras.strip_pruning(wrapped))
    _report(kernel_sparsity(pruned, quantized=False), target)
    return pruned


def _report(achieved: dict[str, float], target: float) -> None:
    parts = ", ".join(f"{k} {v:.3f}" for k, v in achieved.items())
    print(f"[prune] target {target:.3f}; achieved per layer: {parts}", file=sys.stderr, flush=True)


def constant_masks(model: Any) -> dict[str, Any]:
    """ConstantSparsity schedules that freeze each layer's *current* zero pattern.

    Used by QAT: the sparsity given is exactly zeros/size, so tfmot's magnitude mask keeps
    precisely the non-zero weights. tfmot's first mask update happens at pruning step 1
    (the first batch); allowing only that step means the mask is never re-chosen.
    """
    import tensorflow_model_optimization as tfmot

    out = {}
    for name, frac in kernel_sparsity(model, quantized=False).items():
        if frac > 0.0:
            out[name] = tfmot.sparsity.keras.ConstantSparsity(frac, begin_step=0, end_step=1, frequency=1)
    return out
