"""data.inputs: particles+features: both views of each jet side by side, each standardised by its
own loader, for the two-input ``hybrid`` Keras arch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data.source import load_dataset
from tests.data.particle_helpers import particles_npz


@pytest.mark.unit
def test_rows_hold_the_particles_then_the_features(tmp_path: Path) -> None:
    path = particles_npz(tmp_path / "p.npz", n=400, p=8, f=4)
    both = load_dataset({"source": str(path), "inputs": "particles+features"}, seed=1)
    parts = load_dataset({"source": str(path), "inputs": "particles"}, seed=1)
    feats = load_dataset({"source": str(path)}, seed=1)
    assert both.x_train.shape == (len(parts.x_train), 8 * 4 + 16) and both.n_features == 48
    for split in ("train", "val", "test"):
        x = getattr(both, f"x_{split}")
        assert np.array_equal(x[:, :32], getattr(parts, f"x_{split}").reshape(len(x), -1))
        assert np.array_equal(x[:, 32:], getattr(feats, f"x_{split}"))
        assert np.array_equal(getattr(both, f"y_{split}"), getattr(feats, f"y_{split}"))
    assert both.meta["input_shapes"] == [[8, 4], [16]] and both.meta["input_names"] == ["particles", "features"]
    assert both.meta["views"]["features"]["mean"] == feats.mean.tolist()
    assert len(both.mean) == 4 + 16 and both.meta["inputs"] == "particles+features"
