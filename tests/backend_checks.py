"""Shared by the backend-exactness tests: count differing output rows, skip without a tool."""

from __future__ import annotations

import shutil

import numpy as np
import pytest


def mismatches(got: np.ndarray, want: np.ndarray) -> int:
    """Rows of ``got`` that differ from ``want`` in any element (shapes must agree)."""
    assert got.shape == want.shape
    return int(np.count_nonzero(np.any(got != want, axis=1)))


def needs(tool: str) -> None:
    """Skip the calling test, with the reason, when ``tool`` is not on PATH."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
