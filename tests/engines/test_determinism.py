"""Same recipe step + seed, two fresh processes: bit-identical trained weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib, sys
import numpy as np
from tests.engines.test_engine_contract import tiny
framework = sys.argv[1]
if framework == "keras":
    from hwai.engines.keras import KerasEngine as E
else:
    from hwai.engines.torch import TorchEngine as E
eng, data = E(), tiny(600)
model = eng.build({"arch": "jet_mlp", "hidden": [16, 8]}, data, 7)
model = eng.train(model, data, {"epochs": 2, "batch_size": 32, "learning_rate": 3e-3, "patience": 0}, 7)
model = eng.prune(model, data, {"sparsity": 0.5, "epochs": 2, "batch_size": 32}, 7)
h = hashlib.sha256()
for a in (model.get_weights() if framework == "keras" else [p.detach().numpy() for p in model.state_dict().values()]):
    h.update(np.ascontiguousarray(a).tobytes())
print("DIGEST", h.hexdigest())
"""


def digest(framework: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, framework], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("DIGEST"))


@pytest.mark.unit
def test_torch_training_is_reproducible_across_processes() -> None:
    pytest.importorskip("torch")
    assert digest("torch") == digest("torch")


@pytest.mark.slow
def test_keras_training_is_reproducible_across_processes() -> None:
    pytest.importorskip("tensorflow")
    assert digest("keras") == digest("keras")
