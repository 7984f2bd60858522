"""Two inputs side by side (``data.inputs: particles+features``): each jet's particle set and
its jet-level features, for a model with two inputs (e.g. the ``hybrid`` Keras arch).

Each view is loaded and standardised by its own loader, exactly as alone:
:func:`hwai.data.particles.load_particles` (clip + standardise over real particles, padding 0)
and :func:`hwai.data.loaders.load_features` (``data.features``, default ``X``: standardised
with train-split statistics). Both take the same seeded subset and split of the file's rows,
so row k is one jet in both (checked on the labels). The rows hold the two views side by
side, flattened, in the order of the model's inputs: ``P * F`` particle values, then the
features; ``meta['input_shapes']`` records ``[[P, F], [n_features]]``, ``meta['input_names']``
the input names, and the per-input constants travel in ``meta['views']``.
"""

from __future__ import annotations

import numpy as np

from hwai.data.dataset import Dataset
from hwai.data.loaders import load_features
from hwai.data.particles import load_particles
from hwai.errors import DataError

INPUT_NAMES = ("particles", "features")


def load_hybrid(cfg: dict, seed: int, override_path: str | None = None) -> Dataset:
    parts = load_particles(cfg, seed, override_path)
    feats = load_features({**cfg, "inputs": "features"}, seed, override_path)
    for split in ("train", "val", "test"):
        if not np.array_equal(getattr(parts, f"y_{split}"), getattr(feats, f"y_{split}")):
            raise DataError(f"{parts.source}: the particle and feature views split into different jets "
                            f"({split}); both must come from the same rows of one file")
    shapes = [list(parts.x_train.shape[1:]), [int(feats.x_train.shape[1])]]
    meta = {**parts.meta, "inputs": "particles+features", "input_names": list(INPUT_NAMES),
            "input_shapes": shapes, "views": {
                "particles": {"features": list(parts.feature_names), "mean": parts.mean.tolist(),
                              "scale": parts.std.tolist(), "clip": parts.meta["clip"]},
                "features": {"features": list(feats.feature_names), "mean": feats.mean.tolist(),
                             "scale": feats.std.tolist()}}}
    join = lambda a, b: np.concatenate([a.reshape(len(a), -1), b], axis=1).astype(np.float32)  # noqa: E731
    return Dataset(x_train=join(parts.x_train, feats.x_train), y_train=parts.y_train,
                   x_val=join(parts.x_val, feats.x_val), y_val=parts.y_val,
                   x_test=join(parts.x_test, feats.x_test), y_test=parts.y_test,
                   class_names=parts.class_names,
                   feature_names=tuple(f"particles.{n}" for n in parts.feature_names) + feats.feature_names,
                   mean=np.concatenate([parts.mean, feats.mean]), std=np.concatenate([parts.std, feats.std]),
                   source=parts.source, meta=meta)
