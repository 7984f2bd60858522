"""The Keras ``hybrid`` arch (Deep Sets branch + jet features, two inputs) trains, prunes and
quantizes through the engine and lowers to a two-input graph whose golden model follows QKeras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data.source import load_dataset
from hwai.errors import HwaiError
from hwai.ir.numeric import DEFAULT_TYPE
from tests.data.particle_helpers import particles_npz

pytest.importorskip("qkeras")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = particles_npz(tmp_path_factory.mktemp("hyb") / "p.npz", n=400, p=8, f=4)
    return load_dataset({"source": str(path), "inputs": "particles+features"}, seed=1)


@pytest.mark.slow   # ~1 min: three short trainings
def test_hybrid_train_prune_quantize_lower(data) -> None:
    from hwai.engines.keras import KerasEngine
    from hwai.ir.interp import run_float

    eng = KerasEngine()
    model = eng.build({"arch": "hybrid", "phi": [6], "rho": [8]}, data, seed=0)
    assert [t.name.split(":")[0] for t in model.inputs] == ["particles", "features"]
    model = eng.train(model, data, {"epochs": 1}, seed=0)
    model = eng.prune(model, data, {"sparsity": 0.5, "epochs": 1}, seed=0)
    model = eng.quantize(model, data, {"bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 2},
                                       "epochs": 1}, seed=0)
    logits = eng.logits(model, data.x_test)
    assert logits.shape == (len(data.x_test), 5)
    graph = eng.lower(model, DEFAULT_TYPE, {})
    assert graph.inputs == ("particles", "features") and [n.op for n in graph.nodes].count("concat") == 1
    assert eng.sparsity(model)["phi1"] >= 0.5
    golden = run_float(graph, data.x_test)
    assert golden.shape == logits.shape
    assert np.mean(golden.argmax(1) == logits.argmax(1)) > 0.8


@pytest.mark.unit
def test_hybrid_needs_both_inputs(tmp_path: Path) -> None:
    from hwai.engines.keras import KerasEngine

    flat = load_dataset({"source": str(particles_npz(tmp_path / "p.npz", n=200))}, seed=1)
    with pytest.raises(HwaiError, match="set data.inputs: particles\\+features"):
        KerasEngine().build({"arch": "hybrid"}, flat, seed=0)
