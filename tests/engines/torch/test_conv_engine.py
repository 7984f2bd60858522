"""The torch engine on ``arch: conv1d`` (hwai/engines/torch/conv.py): built with the Keras arch's
keys and defaults, trained, magnitude-pruned (conv kernels included), Brevitas QAT with QuantConv1d,
checkpointed, and lowered exactly (the QAT model's forward equals the golden model); the tiny recipe
run end to end is in test_conv_recipe.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.torch import TorchEngine  # noqa: E402
from hwai.errors import DataError, RecipeError  # noqa: E402
from tests.engines.synthetic import particle_sets  # noqa: E402

P, F = 8, 4
STEP = {"epochs": 1, "batch_size": 64, "learning_rate": 0.003}
QAT = {**STEP, "bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 2}, "input": {"bits": 10, "integer": 4}}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def particles() -> Dataset:
    return particle_sets(P, F)


def build(particles: Dataset, **cfg):
    return TorchEngine().build({"framework": "torch", "arch": "conv1d", "filters": [4, 3], "hidden": [6], **cfg},
                               particles, seed=0)


@pytest.mark.unit
def test_conv1d_arch_mirrors_the_keras_keys(particles: Dataset) -> None:
    import torch.nn as nn

    m = build(particles, stride=2, kernel=3)
    assert [type(m.conv1).__name__, type(m.conv2).__name__] == ["Conv1d", "Conv1d"]
    assert (m.conv1.in_channels, m.conv1.out_channels, m.conv1.kernel_size, m.conv1.stride) == (F, 4, (3,), (2,))
    assert m.fc1.in_features == 3 and m.output.out_features == 5   # pool head: one value per filter
    flat = build(particles, head="flatten", stride=2)
    assert flat.fc1.in_features == 3 * 2           # 8 -> 4 -> 2 positions (ceil(P / s)) x 3 filters
    default = TorchEngine().build({"framework": "torch", "arch": "conv1d"}, particles, seed=0)
    assert [default.conv1.out_channels, default.conv2.out_channels, default.fc1.out_features] == [16, 16, 32]
    assert isinstance(default.output, nn.Linear)


@pytest.mark.unit
def test_conv1d_arch_refuses_flat_data_and_even_kernels() -> None:
    from hwai.engines.torch.conv import conv1d_args

    with pytest.raises(DataError, match=r"reads particles \(P, F\).*data.inputs: particles"):
        conv1d_args({}, (16,), 5)
    with pytest.raises(RecipeError, match=r"model.kernel 4: the torch conv1d arch needs an odd kernel") as err:
        conv1d_args({"kernel": 4}, (8, 4), 5)
    assert err.value.exit_code == 2


@pytest.mark.unit
def test_train_prune_quantize_lower_exactly(particles: Dataset, tmp_path: Path) -> None:
    from hwai.codegen.native import golden_outputs
    from hwai.frontends.brevitas import reference_outputs
    from hwai.ir.numeric import DEFAULT_TYPE
    from hwai.sim.vectors import make_vectors

    eng = TorchEngine()
    m = eng.train(build(particles), particles, STEP, 0)
    m = eng.prune(m, particles, {**STEP, "sparsity": 0.5}, 0)
    assert eng.sparsity(m)["conv1"] == pytest.approx(0.5, abs=0.05)   # conv kernels are pruned
    q = eng.quantize(m, particles, QAT, 0)
    assert type(q.get_submodule("conv1")).__name__ == "QuantConv1d"
    assert eng.sparsity(q)["conv2"] >= 0.45                               # QAT keeps the zeros
    assert eng.bit_widths(q)["conv1"] == {"weight": 6, "bias": 6, "activation": 6}
    g = eng.lower(q, DEFAULT_TYPE, {})
    assert not g.meta["inexact"] and [n.op for n in g.nodes][:3] == ["patches", "dense", "relu"]
    x = make_vectors(g, 2000, seed=1)
    real = g.tensor(g.inputs[0]).type.to_float(x).reshape(len(x), P, F)
    assert (reference_outputs(q, g, [real])[0] == golden_outputs(g, x)).all()
    eng.save(q, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")
    assert np.array_equal(eng.logits(back, particles.x_test), eng.logits(q, particles.x_test))


@pytest.mark.unit
def test_structured_pruning_removes_whole_filters(particles: Dataset) -> None:
    from hwai.engines.torch.prune import prune_model

    m = prune_model(build(particles), particles, {**STEP, "sparsity": 0.5, "structured": True, "epochs": 1}, 0)
    zero_filters = (m.conv1.weight.detach().flatten(1) == 0).all(dim=1)
    assert int(zero_filters.sum()) == 2
