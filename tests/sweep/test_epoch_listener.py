"""Every training loop tells the epoch listeners (what a sweep trial reports to ASHA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwai.engines.core import epoch_end, epoch_listener
from tests.engines.test_engine_contract import tiny

pytest.importorskip("tensorflow")
pytest.importorskip("torch")

MODEL = {"arch": "jet_mlp", "hidden": [8]}
TRAIN = {"epochs": 3, "batch_size": 64, "patience": 0}


def test_the_listener_is_called_only_inside_its_block() -> None:
    seen: list[tuple] = []
    with epoch_listener(lambda *a: seen.append(a)):
        epoch_end("train", 1, 2, 0.5)
    epoch_end("train", 2, 2, 0.6)
    assert seen == [("train", 1, 2, 0.5)]


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_train_and_distill_report_every_epoch(framework: str, tmp_path: Path) -> None:
    from hwai.engines.keras import KerasEngine
    from hwai.engines.torch import TorchEngine

    engine = KerasEngine() if framework == "keras" else TorchEngine()
    data = tiny()
    seen: list[tuple] = []
    with epoch_listener(lambda *a: seen.append(a)):
        teacher = engine.train(engine.build(MODEL, data, 0), data, TRAIN, 0)
        engine.distill(None, teacher, data, {"epochs": 2, "batch_size": 64, "patience": 0,
                                             "student": {"arch": "jet_mlp", "hidden": [4]},
                                             "cache_dir": str(tmp_path)}, 0)
    assert [(tag, k, n) for tag, k, n, _ in seen] == [
        ("train", 1, 3), ("train", 2, 3), ("train", 3, 3), ("distill", 1, 2), ("distill", 2, 2)]
    assert all(0.0 <= acc <= 1.0 for *_, acc in seen)
