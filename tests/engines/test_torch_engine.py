"""TorchEngine on tiny synthetic data: build, train, prune, quantize, checkpoints, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.torch import TorchEngine  # noqa: E402
from hwai.errors import HwaiError, RecipeError, UnsupportedLayerError  # noqa: E402
from tests.engines.synthetic import argmax5  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REF_PT = SHARED / "reference-models" / "pytorch" / "three_layer_model.pt"
FAST = {"epochs": 1, "batch_size": 64, "learning_rate": 3e-3}
TRAIN = {"epochs": 6, "batch_size": 32, "learning_rate": 1e-2, "patience": 2}


def synth(n: int = 450, seed: int = 0) -> Dataset:
    return argmax5(n, seed)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synth()


@pytest.fixture(scope="module")
def trained(data: Dataset):
    torch.set_num_threads(1)
    eng = TorchEngine()
    return eng.train(eng.build({"arch": "jet_mlp"}, data, 0), data, TRAIN, 0)


def test_build_jet_mlp_layers(data: Dataset) -> None:
    m = TorchEngine().build({"arch": "jet_mlp"}, data, 0)
    names = [n for n, _ in m.named_children()]
    assert names == ["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "output"]
    assert [m.fc1.out_features, m.fc2.out_features, m.fc3.out_features, m.output.out_features] == [64, 32, 32, 5]
    m2 = TorchEngine().build({"arch": "jet_mlp", "hidden": [8, 4]}, data, 0)
    assert [n for n, _ in m2.named_children()] == ["fc1", "relu1", "fc2", "relu2", "output"]


def test_build_is_seeded(data: Dataset) -> None:
    a = TorchEngine().build({"arch": "jet_mlp"}, data, 3)
    b = TorchEngine().build({"arch": "jet_mlp"}, data, 3)
    assert torch.equal(a.fc1.weight, b.fc1.weight)


def test_train_is_deterministic_and_learns(data: Dataset, trained) -> None:
    eng = TorchEngine()
    again = eng.train(eng.build({"arch": "jet_mlp"}, data, 0), data, TRAIN, 0)
    la, lb = eng.logits(trained, data.x_test), eng.logits(again, data.x_test)
    np.testing.assert_array_equal(la, lb)
    assert la.shape == (len(data.x_test), 5) and la.dtype == np.float64
    assert (la.argmax(1) == data.y_test).mean() > 0.3  # chance is 0.2


@pytest.mark.parametrize("schedule", ["polynomial", "constant"])
def test_prune_unstructured_reaches_sparsity(data: Dataset, trained, schedule: str) -> None:
    import copy

    eng = TorchEngine()
    m = eng.prune(copy.deepcopy(trained), data, {**FAST, "epochs": 2, "sparsity": 0.6,
                                                 "schedule": schedule, "skip_layers": ["output"]}, 0)
    sp = eng.sparsity(m)
    for name in ("fc1", "fc2", "fc3"):
        assert abs(sp[name] - 0.6) <= 0.02, sp
    assert sp["output"] < 0.1
    assert not any(n.endswith("_orig") for n, _ in m.named_parameters())  # masks made permanent


def test_prune_structured_removes_whole_neurons(data: Dataset, trained) -> None:
    import copy

    eng = TorchEngine()
    m = eng.prune(copy.deepcopy(trained), data, {**FAST, "sparsity": 0.5, "structured": True}, 0)
    sp = eng.sparsity(m)
    for name in ("fc1", "fc2", "fc3"):
        w = getattr(m, name).weight.detach()
        rows_zero = (w == 0).all(dim=1)
        assert abs(sp[name] - 0.5) <= 0.02 and abs(rows_zero.float().mean() - 0.5) <= 0.02
    assert sp["output"] == 0.0  # an output row is a class: never pruned structurally


def test_prune_unknown_skip_layer(data: Dataset, trained) -> None:
    with pytest.raises(RecipeError, match="fc9"):
        TorchEngine().prune(trained, data, {**FAST, "skip_layers": ["fc9"]}, 0)


@pytest.fixture(scope="module")
def quantized(data: Dataset, trained):
    import copy

    torch.set_num_threads(1)
    eng = TorchEngine()
    pruned = eng.prune(copy.deepcopy(trained), data, {**FAST, "sparsity": 0.5}, 0)
    cfg = {**FAST, "bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 0},
           "layers": {"fc1": {"bits": 8, "integer": 1, "activation": {"bits": 7, "integer": 2}}}}
    return pruned, eng.quantize(pruned, data, cfg, 0)


def test_quantize_builds_brevitas_with_requested_widths(quantized) -> None:
    _, q = quantized
    kinds = [type(m).__name__ for _, m in q.named_children()]
    assert kinds == ["QuantIdentity", "QuantLinear", "QuantReLU", "QuantLinear", "QuantReLU",
                     "QuantLinear", "QuantReLU", "QuantLinear"]
    bw = TorchEngine().bit_widths(q)
    assert bw["fc1"] == {"weight": 8, "bias": 8, "activation": 7}
    assert bw["fc2"] == {"weight": 6, "bias": 6, "activation": 6}
    assert bw["output"] == {"weight": 6, "bias": 6}
    assert bw["input_quant"] == {"activation": 16}
    # QKeras convention: quantized_bits(8, 1) is ap_fixed<8,2> -> scale 2**-6
    assert float(q.fc1.quant_weight().scale) == 2.0 ** -6
    assert float(q.relu1.act_quant.scale()) == 2.0 ** -5      # ap_ufixed<7,2>
    assert float(q.input_quant.act_quant.scale()) == 2.0 ** -10  # ap_fixed<16,6>


def test_quantize_keeps_pruned_zeros(quantized) -> None:
    pruned, q = quantized
    for name in ("fc1", "fc2", "fc3", "output"):
        was_zero = getattr(pruned, name).weight.detach() == 0
        assert was_zero.any()
        assert (getattr(q, name).weight.detach()[was_zero] == 0).all()
        assert (getattr(q, name).quant_weight().int()[was_zero] == 0).all()


def test_quantize_rejects_unknown_layer_override(data: Dataset, trained) -> None:
    with pytest.raises(RecipeError, match="fc7"):
        TorchEngine().quantize(trained, data, {**FAST, "layers": {"fc7": {"bits": 4}}}, 0)


@pytest.mark.parametrize("which", ["float", "quantized"])
def test_save_restore_identical_logits(tmp_path: Path, data: Dataset, trained, quantized, which: str) -> None:
    eng = TorchEngine()
    model = trained if which == "float" else quantized[1]
    eng.save(model, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")
    np.testing.assert_array_equal(eng.logits(model, data.x_test), eng.logits(back, data.x_test))
    assert eng.bit_widths(back) == eng.bit_widths(model)


def test_lower_quantized_is_typed(quantized) -> None:
    g = TorchEngine().lower(quantized[1], None, {})
    assert [n.op for n in g.nodes] == ["dense", "relu"] * 3 + ["dense"]
    assert str(g.tensor("input_1").type) == "fixed<16,6,RND_CONV,SAT>"
    assert str(g.tensor("relu1").type) == "ufixed<7,2,RND_CONV,SAT>"


# --- errors -------------------------------------------------------------------------------

def test_missing_factory_is_one_line(data: Dataset) -> None:
    with pytest.raises(HwaiError) as err:
        TorchEngine().build({"factory": "no_such_pkg.models:make"}, data, 0)
    msg = str(err.value)
    assert "no_such_pkg.models:make" in msg and "\n" not in msg and "importable" in msg
    with pytest.raises(HwaiError, match="package.module:function"):
        TorchEngine().build({"factory": "just_a_name"}, data, 0)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hwai_user_models.py").write_text(
        "import torch.nn as nn\n"
        "def mlp():\n    return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 5))\n"
        "def conv():\n    return nn.Sequential(nn.Linear(16, 8), nn.Conv1d(1, 1, 3), nn.Linear(6, 5))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hwai_user_models", None)
    return "hwai_user_models"


def test_factory_with_state_dict(tmp_path: Path, data: Dataset, user_module: str) -> None:
    from hwai_user_models import mlp

    ref = mlp()
    torch.save(ref.state_dict(), tmp_path / "w.pt")
    m = TorchEngine().build({"factory": f"{user_module}:mlp", "state_dict": str(tmp_path / "w.pt")}, data, 0)
    assert torch.equal(m[0].weight, ref[0].weight)
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(HwaiError, match="does not fit"):
        TorchEngine().build({"factory": f"{user_module}:mlp", "state_dict": str(tmp_path / "bad.pt")}, data, 0)


def test_unsupported_layer_fails_at_build(data: Dataset, user_module: str) -> None:
    with pytest.raises(UnsupportedLayerError) as err:
        TorchEngine().build({"factory": f"{user_module}:conv"}, data, 0)
    # a Conv1d on a flat feature vector: refused naming the layer (Sequential index 1) and its type
    assert "1: Conv1d" in str(err.value) and "\n" not in str(err.value)


# --- the shared reference model (a legacy pickled nn.Sequential) ----------------------------

@pytest.fixture
def ref_pt() -> Path:
    if not REF_PT.is_file():
        pytest.skip(f"{REF_PT} not present (no ../shared checkout)")
    return REF_PT


def test_reference_pickle_needs_trust(ref_pt: Path, data: Dataset) -> None:
    with pytest.raises(HwaiError) as err:
        TorchEngine().build({"path": str(ref_pt)}, data, 0)
    assert "trust_pickle: true" in str(err.value) and "\n" not in str(err.value)


def test_reference_pickle_loads_when_trusted(ref_pt: Path, data: Dataset) -> None:
    eng = TorchEngine()
    m = eng.build({"path": str(ref_pt), "trust_pickle": True}, data, 0)
    assert [type(c).__name__ for c in m] == ["Linear", "ReLU"] * 3 + ["Linear"]  # Softmax dropped
    assert eng.logits(m, data.x_test[:4]).shape == (4, 5)
    g = eng.lower(m, None, {})
    assert g.meta["inexact"] == ["0", "2", "4", "6"]  # float layers: default ap_fixed<16,6> types
