"""``load_dataset``: the recipe's ``data:`` section -> :class:`Dataset`, flat features or particle sets."""

from __future__ import annotations

from hwai.data.dataset import Dataset
from hwai.data.hybrid import load_hybrid
from hwai.data.images import load_images
from hwai.data.loaders import load_features
from hwai.data.particles import load_particles


def load_dataset(cfg: dict, seed: int, override_path: str | None = None) -> Dataset:
    """``data.inputs: particles`` reads (N, P, F) sets (:mod:`hwai.data.particles`);
    ``particles+features`` both views of each jet (:mod:`hwai.data.hybrid`); anything else the flat (N, F) features (:func:`hwai.data.loaders.load_features`)."""
    if cfg.get("inputs") == "particles":
        return load_particles(cfg, seed, override_path)
    if cfg.get("inputs") == "particles+features":   # two inputs side by side (hwai.data.hybrid)
        return load_hybrid(cfg, seed, override_path)
    if cfg.get("inputs") == "image":   # jet images built from the particles (hwai.data.images)
        return load_images(cfg, seed, override_path)
    return load_features(cfg, seed, override_path)
