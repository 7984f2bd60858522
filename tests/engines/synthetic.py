"""Five-class datasets for the engine tests, generated in memory (seconds to learn)."""

from __future__ import annotations

import numpy as np

from hwai.data.dataset import Dataset

NAMES = tuple(f"f{i}" for i in range(16))


def blobs(n: int = 300, seed: int = 0) -> Dataset:
    """Gaussian blobs around five random centres in 16 features; 60/20/20."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=n)
    x = (rng.normal(scale=2.0, size=(5, 16))[y] + rng.normal(size=(n, 16))).astype(np.float32)
    a, b = int(0.6 * n), int(0.8 * n)
    return Dataset(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], tuple("gqWZt"), NAMES,
                   np.zeros(16, np.float32), np.ones(16, np.float32))


def argmax5(n: int = 450, seed: int = 0) -> Dataset:
    """Five classes that depend on the first five of 16 features; thirds for train/val/test."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 16)).astype(np.float32)
    y = (x[:, :5] + 0.3 * r.normal(size=(n, 5))).argmax(1).astype(np.int64)
    s = n // 3
    return Dataset(x[:s], y[:s], x[s:2 * s], y[s:2 * s], x[2 * s:], y[2 * s:], tuple("gqWZt"), NAMES,
                   np.zeros(16), np.ones(16))


def particle_sets(p: int = 8, f: int = 4, n: int = 300, seed: int = 0) -> Dataset:
    """(n, p, f) particle sets whose class is the argmax of the first four feature sums (mod 5);
    200/50/50 rows."""
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, p, f)).astype(np.float32)
    y = np.argmax(x.sum(axis=1)[:, :4], axis=1) % 5
    return Dataset(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:], tuple("gqWZt"),
                   tuple(f"pf{i}" for i in range(f)), np.zeros(f), np.ones(f))
