"""Tiny datasets, models and recipes for the command-line tests (seconds, not minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def tiny_data(path: Path, rows: int = 240, features: int = 4, classes: int = 3) -> Path:
    """Separable-ish Gaussian blobs: enough rows for a 60/20/20 split of every class."""
    rng = np.random.default_rng(0)
    y = np.arange(rows) % classes
    x = rng.normal(size=(rows, features)).astype(np.float32) + y[:, None].astype(np.float32)
    np.savez(path, X=x, y=y.astype(np.int64))
    return path


def tiny_recipe(folder: Path, steps: list | None = None, **top) -> Path:
    """A valid recipe on tiny data: a 4-4-3 MLP, lowered and estimated without training."""
    data = tiny_data(folder / "d.npz")
    doc = {"name": "tiny", "seed": 0, "model": {"arch": "jet_mlp", "hidden": [4]},
           "data": {"source": str(data)}, "steps": steps or ["lower", "estimate"], **top}
    path = folder / "r.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def hwai(*args: str, cwd: Path | None = None, **kw) -> subprocess.Popen:
    """``python -m hwai.cli ARGS`` as a child process with this tree on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "hwai.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
