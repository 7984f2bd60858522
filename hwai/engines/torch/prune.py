"""Magnitude pruning with torch.nn.utils.prune, a sparsity schedule and fine-tuning.

Unstructured: ``l1_unstructured`` (smallest |w| first). Structured: ``ln_structured``
with n=2 over output rows, i.e. whole neurons — what removes multipliers *and*
adder-tree inputs in a fully unrolled FPGA layer.
"""

from __future__ import annotations

from typing import Any

from hwai.data.dataset import Dataset
from hwai.engines.core import (
    FINETUNE_EPOCHS,
    check_schedule,
    layer_sparsity,
    log_prune_epoch,
    prunable,
    target_sparsity,
    zero_fraction,
)
from hwai.engines.torch.models import linear_layers
from hwai.engines.torch.train import fit


def prunable_layers(model: Any, skip: list[str], structured: bool) -> list[tuple[str, Any]]:
    """(name, module) of the layers :func:`hwai.engines.core.prunable` selects."""
    layers = linear_layers(model)
    names = prunable([n for n, _ in layers], skip, structured, output_weight_layers(model) if structured else None)
    return [(n, m) for n, m in layers if n in names]


def output_weight_layers(model: Any) -> list[str]:
    """The weight layers computing the model's outputs; [] if fx cannot trace the model."""
    from hwai.errors import UnsupportedLayerError
    from hwai.frontends.torch_fx import returning_modules

    try:
        return returning_modules(model, {n for n, _ in linear_layers(model)})
    except UnsupportedLayerError:
        return []


def apply_sparsity(layers: list[tuple[str, Any]], sparsity: float, structured: bool) -> None:
    """Raise every layer's mask to ``sparsity`` (masks compose with earlier ones)."""
    from torch.nn.utils import prune

    for _, mod in layers:
        if structured:
            rows = mod.weight.shape[0]
            done = int((_mask(mod).flatten(1).sum(dim=1) == 0).sum())   # whole rows / conv filters
            amount = max(round(sparsity * rows) - done, 0)
            if amount:
                prune.ln_structured(mod, "weight", amount=amount, n=2, dim=0)
        else:
            done = int((_mask(mod) == 0).sum())
            amount = max(round(sparsity * mod.weight.numel()) - done, 0)
            if amount:
                prune.l1_unstructured(mod, "weight", amount=amount)


def _mask(mod: Any) -> Any:
    import torch

    return getattr(mod, "weight_mask", torch.ones_like(mod.weight))


def make_permanent(layers: list[tuple[str, Any]]) -> None:
    from torch.nn.utils import prune

    for _, mod in layers:
        if prune.is_pruned(mod):
            prune.remove(mod, "weight")


def prune_model(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Prune to ``cfg['sparsity']`` (``cfg['layers']``: per layer) following ``cfg['schedule']``
    over ``cfg['epochs']``."""
    structured = bool(cfg.get("structured", False))
    schedule = str(cfg.get("schedule", "polynomial"))
    check_schedule(schedule)
    epochs = int(cfg.get("epochs") if cfg.get("epochs") is not None else FINETUNE_EPOCHS)
    layers = prunable_layers(model, list(cfg.get("skip_layers") or []), structured)
    final = layer_sparsity([n for n, _ in layers], cfg)

    def before_epoch(epoch: int) -> None:
        for n, m in layers:
            apply_sparsity([(n, m)], target_sparsity(final[n], epoch, epochs, schedule), structured)

    def after_epoch(epoch: int) -> None:
        log_prune_epoch(epoch, epochs, {n: zero_fraction(m.weight.detach().numpy()) for n, m in layers})

    # Early stopping would restore weights from before the last sparsity increase;
    # pruning must end at the final sparsity, so train every scheduled epoch.
    fit(model, data, {**cfg, "epochs": epochs}, seed, tag="prune",
        before_epoch=before_epoch, after_epoch=after_epoch, early_stop=False)
    for n, m in layers:   # epochs == 0 or a short schedule
        apply_sparsity([(n, m)], final[n], structured)
    make_permanent(layers)
    return model.eval()
