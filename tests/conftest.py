"""Shared test configuration: quiet TensorFlow, one thread, the ../shared folder, tier markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TIERS = {"unit", "csim", "rtl", "slow", "notebooks"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test with no tier marker is a unit test."""
    for item in items:
        if not TIERS & {m.name for m in item.iter_markers()}:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (a user's clone has no ../shared)")
    return SHARED


@pytest.fixture(scope="session")
def jets_npz(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "jets_hlf.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def qkeras_reference(shared_dir: Path):
    """The shared reference QKeras 6-bit jet model (hls4ml tutorial), loaded by hwai's own loader."""
    pytest.importorskip("qkeras")
    from hwai.engines.keras.io import load_model_file

    ref = shared_dir / "reference-models" / "keras" / "qkeras_3layer.json"
    if not ref.is_file():
        pytest.skip(f"{ref} not present")
    return load_model_file(ref, ref.with_name("qkeras_3layer_weights.h5"))


@pytest.fixture(scope="session")
def openml_rows(shared_dir: Path):
    """1,000 real (standardized) OpenML jet rows and labels (alphabetical g,q,t,w,z)."""
    import numpy as np

    path = shared_dir / "data" / "openml_jets_sample1000_standardized.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with np.load(path) as z:
        return z["x_raw"], z["y"]
