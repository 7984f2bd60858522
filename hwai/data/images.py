"""Jet images (``data.inputs: image``): an eta-phi grid of pT built from each jet's particles.

The transform (documented in ``docs/anomaly.md`` and handed off in ``preprocessing.json``):

1. read ``pt_rel`` (pT / jet pT), ``deta`` and ``dphi`` (relative to the jet axis) of the real
   particles (``mask == 1``; padding rows are ignored);
2. centre: ``axis`` (default) keeps the jet axis at the image centre; ``centroid`` first
   subtracts each jet's pT-weighted mean (deta, dphi) of its real particles;
3. pixel of a particle: ``row = floor((deta + extent) / (2 extent / size))``, ``col`` the same
   with ``dphi``; a particle outside ``[-extent, extent)`` on either axis is dropped (the
   grid covers the jet cone; its pT is not piled onto the edge);
4. pixel value: the sum of ``pt_rel`` of its particles (float64 sums, stored as float32);
5. ``normalize: sum`` divides each image by its total (pixel values sum to 1; an empty image
   stays 0), ``none`` keeps ``pt_rel``;
6. ``scale`` compresses each pixel value ``v`` (after step 5): ``linear`` keeps it, ``sqrt`` gives
   ``sqrt(v)``, ``log`` gives ``log(1 + v / log_eps) / log(1 + 1 / log_eps)`` (0 stays 0, 1 stays
   1, monotonic). The soft, wide radiation and the subleading prongs then weigh in the image
   beside the leading particle (docs/anomaly.md: this is what lets an encoder trained on q/g
   find top jets).

The result is (N, size, size, 1) (rows = eta, columns = phi, one channel), or (N, size*size)
row-major with ``flatten: true``. No standardization: zero pixels stay exactly 0 and the
firmware receives the image itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hwai.data.loaders as loaders
from hwai.data.dataset import Dataset
from hwai.data.particles import _read, _subsample_index
from hwai.errors import DataError

DEFAULTS = {"size": 16, "extent": 0.8, "center": "axis", "normalize": "sum", "flatten": False,
            "scale": "linear", "log_eps": 0.01}
CENTERS = ("axis", "centroid")
NORMALIZE = ("none", "sum")
SCALES = ("linear", "sqrt", "log")
FEATURES = ("pt_rel", "deta", "dphi")   # the particle features the grid is built from


def image_config(cfg: dict) -> dict:
    """``data.image`` with defaults filled, checked (one line naming the field when wrong)."""
    img = {**DEFAULTS, **{k: v for k, v in (cfg.get("image") or {}).items() if v is not None}}
    unknown = sorted(set(img) - set(DEFAULTS))
    if unknown:
        raise DataError(f"data.image.{unknown[0]} is not a setting; known: {', '.join(DEFAULTS)}")
    if not isinstance(img["size"], int) or img["size"] < 2:
        raise DataError(f"data.image.size {img['size']!r} must be an integer >= 2 (pixels per side)")
    if not float(img["extent"]) > 0:
        raise DataError(f"data.image.extent {img['extent']!r} must be > 0 (half-width in eta and phi)")
    if not float(img["log_eps"]) > 0:
        raise DataError(f"data.image.log_eps {img['log_eps']!r} must be > 0 (the pixel value where log bends)")
    for key, allowed in (("center", CENTERS), ("normalize", NORMALIZE), ("scale", SCALES)):
        if img[key] not in allowed:
            raise DataError(f"data.image.{key} {img[key]!r} must be one of {', '.join(allowed)}")
    return img


def load_images(cfg: dict, seed: int, override_path: str | None = None) -> Dataset:
    """Read the particles, build one image per jet, split as the other loaders do."""
    img = image_config(cfg)
    source = str(override_path or cfg.get("source", ""))
    if not source:
        raise DataError("data.source is empty; set it in the recipe or pass --data PATH.npz")
    x, mask, y_raw, file_names, features = _read(Path(source).expanduser(), cfg)
    y, class_names = loaders._encode_labels(y_raw, cfg.get("class_names") or file_names, source)
    loaders.check_classes(y, class_names, source)
    keep = _subsample_index(len(y), cfg.get("max_rows"), seed)
    images = jet_images(x[keep], mask[keep], feature_columns(features, source), img)
    y = y[keep]
    split = cfg.get("split") or loaders._DEFAULT_SPLIT
    parts = loaders._split_indices(y, split, seed)
    loaders.check_split_counts(y, parts, split, class_names, source)
    meta = {"n_rows_file": len(y_raw), "max_rows": cfg.get("max_rows"), "seed": seed, "standardize": "none",
            "inputs": "image", "image": img, "counts": {k: int(len(v)) for k, v in parts.items()}}
    return Dataset(x_train=images[parts["train"]], y_train=y[parts["train"]],
                   x_val=images[parts["val"]], y_val=y[parts["val"]],
                   x_test=images[parts["test"]], y_test=y[parts["test"]],
                   class_names=tuple(class_names), feature_names=("pt",),
                   mean=np.zeros(1, np.float32), std=np.ones(1, np.float32), source=source, meta=meta)


def feature_columns(features: list[str], source: str) -> tuple[int, int, int]:
    """Column of pt_rel, deta and dphi in the particle features (named in the file)."""
    missing = [f for f in FEATURES if f not in features]
    if missing:
        raise DataError(f"{source}: data.inputs: image needs particle features {', '.join(FEATURES)}; "
                        f"'particle_feature_names' lacks {', '.join(missing)} (has {', '.join(features)})")
    return tuple(features.index(f) for f in FEATURES)   # type: ignore[return-value]


def jet_images(x: np.ndarray, mask: np.ndarray, cols: tuple[int, int, int], img: dict) -> np.ndarray:
    """The documented transform on (N, P, F) particles -> (N, S, S, 1) float32 (or (N, S*S))."""
    size, extent = int(img["size"]), float(img["extent"])
    pt, eta, phi = (x[..., c].astype(np.float64) for c in cols)
    real = mask.astype(bool)
    if img["center"] == "centroid":
        eta, phi = _recentre(pt, eta, phi, real)
    row, col = (np.floor((v + extent) / (2.0 * extent / size)).astype(np.int64) for v in (eta, phi))
    inside = real & (row >= 0) & (row < size) & (col >= 0) & (col < size)
    flat = np.zeros((len(x), size * size), np.float64)
    jet = np.broadcast_to(np.arange(len(x))[:, None], pt.shape)
    np.add.at(flat, (jet[inside], row[inside] * size + col[inside]), pt[inside])
    if img["normalize"] == "sum":
        total = flat.sum(axis=1, keepdims=True)
        flat = np.divide(flat, total, out=np.zeros_like(flat), where=total > 0)
    flat = scale_pixels(flat, img["scale"], float(img["log_eps"])).astype(np.float32)
    return flat if img["flatten"] else flat.reshape(len(x), size, size, 1)


def scale_pixels(v: np.ndarray, scale: str, eps: float) -> np.ndarray:
    """Step 6 on float64 pixel values >= 0: linear, sqrt or log(1 + v/eps)/log(1 + 1/eps)."""
    if scale == "sqrt":
        return np.sqrt(v)
    if scale == "log":   # normalised so a pixel holding the whole jet (v = 1) stays 1
        return np.log1p(v / eps) / np.log1p(1.0 / eps)
    return v


def _recentre(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(deta, dphi) minus each jet's pT-weighted centroid over its real particles."""
    w = np.where(real, pt, 0.0)
    total = np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    return (eta - (w * eta).sum(axis=1, keepdims=True) / total,
            phi - (w * phi).sum(axis=1, keepdims=True) / total)
