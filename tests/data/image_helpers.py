"""A tiny particle file whose q/g jets are one narrow prong and whose W/Z/t jets have two or three
(so an anomaly model trained on q/g can tell them apart in seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ("pt_rel", "deta", "dphi", "log_pt")


def prong_npz(path: Path, n: int = 1000, p: int = 8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 5
    prongs = np.where(y < 2, 1, np.where(y == 4, 3, 2))
    centres = rng.uniform(-0.5, 0.5, (n, 3, 2)) * (prongs[:, None, None] > 1)
    which = rng.integers(0, 3, (n, p)) % prongs[:, None]
    pos = centres[np.arange(n)[:, None], which] + rng.normal(0, 0.05, (n, p, 2))
    pt = rng.exponential(1.0, (n, p))
    counts = rng.integers(3, p + 1, n)
    mask = (np.arange(p)[None, :] < counts[:, None]).astype(np.uint8)
    pt = pt * mask / (pt * mask).sum(axis=1, keepdims=True)
    xp = np.stack([pt, pos[..., 0], pos[..., 1], np.log(pt + 1e-3)], axis=-1) * mask[..., None]
    np.savez(path, Xp=xp.astype(np.float32), mask=mask, y=y, class_names=np.array(["g", "q", "W", "Z", "t"]),
             particle_feature_names=np.array(FEATURES))
    return path
