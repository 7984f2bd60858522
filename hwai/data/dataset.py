"""The in-memory dataset every step works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Train/val/test splits, already standardized with train-split statistics.

    X arrays are float32 (N, n_features); y arrays are int64 class indices into
    ``class_names``. ``mean``/``std`` are the standardization applied (zeros/ones
    when none), so raw inputs can be mapped the same way at inference.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Features per row; for particle sets (N, P, F) per particle (the last axis)."""
        return int(self.x_train.shape[-1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)
