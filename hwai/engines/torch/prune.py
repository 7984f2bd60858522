"""Magnitude pruning with torch.nn.utils.prune, a sparsity schedule and fine-tuning.

Unstructured: ``l1_unstructured`` (smallest |w| first). Structured: ``ln_structured``
with n=2 over output rows, i.e. whole neurons — what removes multipliers *and*
adder-tree inputs in a fully unrolled FPGA layer.
"""

from __future__ import annotations

from typing import Any

from hwai.data.dataset import Dataset
from hwai.engines.torch.models import linear_layers
from hwai.engines.torch.train import fit
from hwai.errors import RecipeError


def target_sparsity(final: float, epoch: int, epochs: int, schedule: str) -> float:
    """Sparsity to reach at the start of ``epoch`` (0-based).

    ``polynomial`` is TF-MOT's PolynomialDecay with power 3 (Zhu & Gupta 2017, "To prune
    or not to prune"): fast early, gentle late; the last epoch runs at the final value.
    """
    if schedule == "constant" or epochs <= 1:
        return final
    if schedule != "polynomial":
        raise RecipeError(f"prune.schedule {schedule!r}: use 'polynomial' or 'constant'")
    frac = min((epoch + 1) / max(epochs - 1, 1), 1.0)
    return final * (1.0 - (1.0 - frac) ** 3)


def prunable(model: Any, skip: list[str], structured: bool) -> list[tuple[str, Any]]:
    """Layers to prune. Structured pruning never touches the output layer: removing an
    output row would delete a class logit."""
    layers = linear_layers(model)
    names = {n for n, _ in layers}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise RecipeError(f"prune.skip_layers: no layer named {', '.join(unknown)} "
                          f"(layers: {', '.join(sorted(names))})")
    if structured and layers:
        layers = layers[:-1]
    return [(n, m) for n, m in layers if n not in skip]


def apply_sparsity(layers: list[tuple[str, Any]], sparsity: float, structured: bool) -> None:
    """Raise every layer's mask to ``sparsity`` (masks compose with earlier ones)."""
    from torch.nn.utils import prune

    for _, mod in layers:
        if structured:
            rows = mod.weight.shape[0]
            done = int((_mask(mod).sum(dim=1) == 0).sum())
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
    """Prune to ``cfg['sparsity']`` following ``cfg['schedule']`` over ``cfg['epochs']``."""
    final = float(cfg.get("sparsity", 0.7))
    if not 0.0 <= final < 1.0:
        raise RecipeError(f"prune.sparsity {final} must be in [0, 1)")
    structured = bool(cfg.get("structured", False))
    schedule = str(cfg.get("schedule", "polynomial"))
    epochs = int(cfg.get("epochs", 10))
    layers = prunable(model, list(cfg.get("skip_layers") or []), structured)

    def before_epoch(epoch: int) -> None:
        apply_sparsity(layers, target_sparsity(final, epoch, epochs, schedule), structured)

    # Early stopping would restore weights from before the last sparsity increase;
    # pruning must end at the final sparsity, so train every scheduled epoch.
    fit(model, data, {**cfg, "epochs": epochs}, seed, tag="prune",
        before_epoch=before_epoch, early_stop=False)
    apply_sparsity(layers, final, structured)  # epochs == 0 or a short schedule
    make_permanent(layers)
    return model.eval()
