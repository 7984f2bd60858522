"""Particle-set inputs (``data.inputs: particles``): (N, P, F) arrays with a padding mask.

The transform, computed from the train split's *real* particles only (padding rows carry no
physics and would pull every mean towards 0):

1. clip feature ``i`` to ``[lo_i, hi_i]``, its ``clip_quantile`` / ``1 - clip_quantile``
   quantiles (the constituents file has long tails: pseudorapidity ``deta``/``delta_r`` up to
   ~4.9 and ``log_pt`` down to ~-29; a few such particles would otherwise set the fixed-point
   input range of every particle);
2. standardize: ``(clipped - mean_i) / scale_i`` in float32;
3. padding particles (``mask == 0``) stay exactly 0, so the firmware sees the same zeros.

The constants travel as ``Dataset.mean``/``std`` (per particle feature) and
``Dataset.meta['clip']``/``['particles']``; :mod:`hwai.codegen.preprocess` hands them off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hwai.data.loaders as loaders
from hwai.data.dataset import Dataset
from hwai.errors import DataError

DEFAULT_CLIP_QUANTILE = 0.001


def load_particles(cfg: dict, seed: int, override_path: str | None = None) -> Dataset:
    """Read ``Xp``/``mask``/``y``, split as the flat loader does, clip and standardize over real particles."""
    source = str(override_path or cfg.get("source", ""))
    if not source:
        raise DataError("data.source is empty; set it in the recipe or pass --data PATH.npz")
    x, mask, y_raw, file_names, features = _read(Path(source).expanduser(), cfg)
    x, mask = leading_particles(x, mask, cfg.get("max_particles"))
    loaders.check_rows(x.reshape(len(x), -1), [f"{p}.{f}" for p in range(x.shape[1]) for f in features], source)
    y, class_names = loaders._encode_labels(y_raw, cfg.get("class_names") or file_names, source)
    loaders.check_classes(y, class_names, source)
    keep = _subsample_index(len(y), cfg.get("max_rows"), seed)
    x, mask, y = x[keep], mask[keep], y[keep]
    split = cfg.get("split") or loaders._DEFAULT_SPLIT
    parts = loaders._split_indices(y, split, seed)
    loaders.check_split_counts(y, parts, split, class_names, source)
    return _assemble(x, mask, y, parts, cfg, seed, source, class_names, features, len(keep))


def _assemble(x: np.ndarray, mask: np.ndarray, y: np.ndarray, parts: dict, cfg: dict, seed: int,
              source: str, class_names: list[str], features: list[str], n_file: int) -> Dataset:
    train_real = x[parts["train"]][mask[parts["train"]]]
    mode = cfg.get("standardize", "standard")
    lo, hi = clip_bounds(train_real, float(cfg.get("clip_quantile", DEFAULT_CLIP_QUANTILE)))
    mean, std = loaders._standardization(np.clip(train_real, lo, hi), mode)
    scaled = transform(x, mask, lo, hi, mean, std)
    meta = {"n_rows_file": n_file, "max_rows": cfg.get("max_rows"), "seed": seed, "standardize": mode,
            "inputs": "particles", "particles": int(x.shape[1]),
            "clip": {"quantile": float(cfg.get("clip_quantile", DEFAULT_CLIP_QUANTILE)),
                     "lo": [float(v) for v in lo], "hi": [float(v) for v in hi]},
            "real_fraction": float(mask.mean()),
            "counts": {k: int(len(v)) for k, v in parts.items()}}
    return Dataset(x_train=scaled[parts["train"]], y_train=y[parts["train"]],
                   x_val=scaled[parts["val"]], y_val=y[parts["val"]],
                   x_test=scaled[parts["test"]], y_test=y[parts["test"]],
                   class_names=tuple(class_names), feature_names=tuple(features),
                   mean=mean, std=std, source=source, meta=meta)


def clip_bounds(real: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature clipping range (float32): the q and 1-q quantiles of the real particles; none for q = 0."""
    if not 0.0 <= q < 0.5:
        raise DataError(f"data.clip_quantile {q} must be in [0, 0.5); e.g. 0.001 clips the outer 0.1 % per side")
    if q == 0.0 or len(real) == 0:
        return np.full(real.shape[1], -np.inf, np.float32), np.full(real.shape[1], np.inf, np.float32)
    lo, hi = np.quantile(real.astype(np.float64), [q, 1.0 - q], axis=0)
    return lo.astype(np.float32), hi.astype(np.float32)


def transform(x: np.ndarray, mask: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The documented float32 transform; padding (mask 0) becomes exactly 0."""
    z = (np.clip(x.astype(np.float32), lo, hi) - mean) / std
    return np.where(mask[..., None], z, np.float32(0)).astype(np.float32)


def leading_particles(x: np.ndarray, mask: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` particles of every set (all when ``n`` is None or >= P). The file's order
    decides which: jets_constituents.npz is pT-descending, so these are the n hardest particles,
    the ones a trigger's particle-flow stage sorts to the front anyway."""
    if n is None or n >= x.shape[1]:
        return x, mask
    return np.ascontiguousarray(x[:, :n]), np.ascontiguousarray(mask[:, :n])


def _subsample_index(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    """Row indices kept: the flat loader's seeded subset, so both views of a file pick the same jets."""
    rows = np.arange(n)
    return loaders._subsample(rows[:, None], rows, max_rows, seed)[1]


def _read(path: Path, cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None, list[str]]:
    """(Xp float32 (N, P, F), mask bool (N, P), y, class names, particle feature names) from a .npz."""
    if path.suffix.lower() != ".npz":
        raise DataError(f"data file {path}: data.inputs: particles reads .npz files (keys Xp, mask, y)")
    if not path.is_file():
        raise DataError(f"data file {path} not found; check data.source or pass --data PATH.npz")
    keys = {"x": str(cfg.get("particles") or "Xp"), "mask": str(cfg.get("mask") or "mask"),
            "y": str(cfg.get("labels") or "y")}
    with np.load(path, allow_pickle=False) as f:
        for key in keys.values():
            if key not in f.files:
                raise loaders._missing_key(path, key, list(f.files))
        x, mask, y = f[keys["x"]], f[keys["mask"]].astype(bool), f[keys["y"]]
        names = f["class_names"].tolist() if "class_names" in f.files else None
        features = (f["particle_feature_names"].tolist() if "particle_feature_names" in f.files
                    else [f"f{i}" for i in range(x.shape[-1])])
    _check_shapes(path, keys, x, mask, y)
    return x.astype(np.float32), mask, y, names, [str(n) for n in features]


def _check_shapes(path: Path, keys: dict, x: np.ndarray, mask: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 3 or x.dtype.kind not in "fiub":
        raise DataError(f"{path}: '{keys['x']}' must be a numeric (jets, particles, features) array, "
                        f"got {x.dtype} {x.shape}")
    if mask.shape != x.shape[:2]:
        raise DataError(f"{path}: '{keys['mask']}' has shape {mask.shape} but '{keys['x']}' needs {x.shape[:2]}")
    if len(y) != len(x):
        raise DataError(f"{path}: {len(x)} jets in '{keys['x']}' but {len(y)} labels")
