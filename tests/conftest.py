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
