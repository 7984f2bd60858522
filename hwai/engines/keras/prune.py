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
from hwai.engines.core import (
    FINETUNE_EPOCHS,
    check_schedule,
    check_sparsity,
    layer_sparsity,
    log_prune_epoch,
    prunable,
    sparsity_plan,
    train_config,
    zero_fraction,
)
from hwai.engines.keras.anomaly import fit_for
from hwai.engines.keras.models import canonicalize
from hwai.engines.keras.train import steps_per_epoch


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
        out[layer.name] = zero_fraction(w)
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


def prune_model(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Prune the kernels of all weight layers (minus ``skip_layers``) to ``cfg['sparsity']``
    following :func:`hwai.engines.core.sparsity_plan` (one mask update per epoch)."""
    import tensorflow_model_optimization as tfmot

    from hwai.engines.keras.schedule import EpochSchedule

    target = check_sparsity(cfg.get("sparsity", 0.7))
    schedule = str(cfg.get("schedule", "polynomial"))
    check_schedule(schedule)
    base = private_copy(canonicalize(model))
    layers = {l.name: l for l in base.layers if getattr(l, "kernel", None) is not None}
    structured = bool(cfg.get("structured", False))
    names = prunable(list(layers), list(cfg.get("skip_layers") or []), structured, output_weight_layers(base))
    c = train_config(cfg, FINETUNE_EPOCHS)
    plans = {n: sparsity_plan(s, c.epochs, schedule) for n, s in layer_sparsity(names, cfg).items()}
    if structured:
        fit_for(cfg)(base, data, {**cfg, "epochs": c.epochs}, seed, tag="prune",
                     callbacks=[neuron_pruning([layers[n] for n in names], plans)], early_stopping=False)
        _report(kernel_sparsity(base, quantized=False), target)
        return base
    spe = steps_per_epoch(data, c.batch_size)
    wrapped = wrap_layers(base, {n: EpochSchedule(plan, spe) for n, plan in plans.items()})
    fit_for(cfg)(wrapped, data, {**cfg, "epochs": c.epochs}, seed, tag="prune",
                 callbacks=[tfmot.sparsity.keras.UpdatePruningStep(), epoch_sparsity_logger(names, c.epochs)],
                 early_stopping=False)
    # A fresh copy: stripping re-uses layer objects that are also wired into `wrapped`.
    pruned = private_copy(tfmot.sparsity.keras.strip_pruning(wrapped))
    _report(kernel_sparsity(pruned, quantized=False), target)
    return pruned


def output_weight_layers(model: Any) -> list[str]:
    """The weight layers computing the model's outputs: from each output back through the
    layers without weights (softmax, activations) to the first with a kernel."""
    from hwai.engines.keras.models import output_layers

    out = []
    for layer in output_layers(model):
        while getattr(layer, "kernel", None) is None and not isinstance(layer.input, (list, tuple)):
            history = getattr(layer.input, "_keras_history", None)
            if history is None:
                break
            layer = history.layer
        if getattr(layer, "kernel", None) is not None:
            out.append(layer.name)
    return out


def epoch_sparsity_logger(names: list[str], epochs: int) -> Any:
    """Callback logging the masked kernels' sparsity after each epoch (core.log_prune_epoch)."""
    import tensorflow as tf

    class EpochSparsity(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            fr = {l.layer.name: zero_fraction(l.layer.kernel.numpy() * l.pruning_vars[0][1].numpy())
                  for l in self.model.layers if getattr(l, "layer", None) is not None and l.layer.name in names}
            log_prune_epoch(epoch, epochs, fr)

    return EpochSparsity()


def neuron_pruning(layers: list[Any], plans: dict[str, list[float]]) -> Any:
    """Structured pruning callback: whole output neurons (kernel columns), smallest L2 norm
    first, raised to ``plans[layer][e]`` before epoch ``e`` and held at zero after every batch.

    tfmot has no neuron pruning for Dense (its (n_in, 1) block sparsity fails on the pooled
    rank-1 mask in the pinned tfmot), so this mirrors torch's ``ln_structured(n=2, dim=0)``: the
    same norm, the same rounding (``round(sparsity * neurons)``), dead neurons stay dead.
    """
    import tensorflow as tf

    class _NeuronPruning(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.masks = {l.name: np.ones(int(l.kernel.shape[1]), np.float32) for l in layers}

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            for l in layers:
                plan = plans[l.name]
                self.masks[l.name] = neuron_mask(l.kernel.numpy(), self.masks[l.name], plan[min(epoch, len(plan) - 1)])
            self.on_train_batch_end(0)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            for l in layers:
                l.kernel.assign(l.kernel.numpy() * self.masks[l.name][None, :])

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            epochs = max((len(p) for p in plans.values()), default=0)
            log_prune_epoch(epoch, epochs, {l.name: zero_fraction(l.kernel.numpy()) for l in layers})

    return _NeuronPruning()


def neuron_mask(kernel: np.ndarray, mask: np.ndarray, sparsity: float) -> np.ndarray:
    """Column mask with ``round(sparsity * columns)`` zeros: the live columns of smallest
    L2 norm are added to the dead ones (stable order breaks ties deterministically)."""
    want = int(round(sparsity * mask.size)) - int((mask == 0).sum())
    if want <= 0:
        return mask
    norms = np.linalg.norm(kernel * mask[None, :], axis=0)
    alive = np.nonzero(mask)[0]
    out = mask.copy()
    out[alive[np.argsort(norms[alive], kind="stable")[:want]]] = 0.0
    return out


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
