"""KerasEngine on a tiny synthetic dataset, plus loading the shared reference models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data.dataset import Dataset
from hwai.errors import HwaiError, UnsupportedLayerError

pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")

from hwai.engines.keras import KerasEngine  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REF = SHARED / "reference-models" / "keras"
OPENML_SAMPLE = SHARED / "data" / "openml_jets_sample1000_standardized.npz"

pytestmark = pytest.mark.unit
FAST = {"epochs": 1, "batch_size": 64, "learning_rate": 3e-3, "patience": 2}


def _tiny_data(n: int = 400, n_features: int = 16, n_classes: int = 5, seed: int = 0) -> Dataset:
    """Gaussian blobs: learnable in one epoch, so the tests check training does something."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    x = (centers[y] + rng.normal(size=(n, n_features))).astype(np.float32)
    a, b = int(0.6 * n), int(0.8 * n)
    names = tuple("gqWZt"[:n_classes]) if n_classes <= 5 else tuple(map(str, range(n_classes)))
    return Dataset(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], names, tuple(f"f{i}" for i in range(n_features)),
                   np.zeros(n_features, np.float32), np.ones(n_features, np.float32))


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _tiny_data()


@pytest.fixture(scope="module")
def engine() -> KerasEngine:
    return KerasEngine()


@pytest.fixture(scope="module")
def trained(engine: KerasEngine, data: Dataset):
    model = engine.build({"arch": "jet_mlp"}, data, seed=0)
    return engine.train(model, data, {**FAST, "epochs": 2}, seed=0)


@pytest.fixture(scope="module")
def pruned(engine: KerasEngine, data: Dataset, trained):
    return engine.prune(trained, data, {"sparsity": 0.6, "epochs": 2, "batch_size": 64, "skip_layers": ["output"]}, 0)


def test_build_names_and_shapes(engine: KerasEngine, data: Dataset) -> None:
    model = engine.build({"arch": "jet_mlp"}, data, seed=0)
    names = [l.name for l in model.layers]
    assert names == ["input", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "output", "softmax"]
    assert [model.get_layer(n).units for n in ("fc1", "fc2", "fc3", "output")] == [64, 32, 32, 5]
    custom = engine.build({"arch": "jet_mlp", "hidden": [8]}, data, seed=0)
    assert [l.name for l in custom.layers][1:] == ["fc1", "relu1", "output", "softmax"]
    again = engine.build({"arch": "jet_mlp"}, data, seed=0)
    np.testing.assert_array_equal(model.get_weights()[0], again.get_weights()[0])  # seeded init


def test_build_mismatch_names_both_numbers(engine: KerasEngine, data: Dataset, tmp_path: Path) -> None:
    engine.save(engine.build({"arch": "jet_mlp", "hidden": [4]}, data, seed=0), tmp_path)
    with pytest.raises(HwaiError, match=r"takes input shape \(16,\) \(16 features\) but the data has 10 features"):
        engine.build({"path": str(tmp_path / "model.h5")}, _tiny_data(n=50, n_features=10), seed=0)
    with pytest.raises(HwaiError, match="5 outputs but the data has 3 classes"):
        engine.build({"path": str(tmp_path / "model.h5")}, _tiny_data(n=50, n_classes=3), seed=0)
    with pytest.raises(HwaiError, match="not found"):
        engine.build({"path": str(tmp_path / "nope.h5")}, data, seed=0)


def test_train_learns_and_logits_are_pre_softmax(engine: KerasEngine, data: Dataset, trained) -> None:
    logits = engine.logits(trained, data.x_test)
    assert logits.dtype == np.float64 and logits.shape == (len(data.y_test), 5)
    probs = trained.predict(data.x_test, verbose=0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), probs, atol=1e-5)
    assert np.mean(np.argmax(logits, axis=1) == data.y_test) > 0.5  # chance is 0.2


def test_prune_reaches_target_and_skips_output(engine: KerasEngine, trained, pruned) -> None:
    sp = engine.sparsity(pruned)
    for name in ("fc1", "fc2", "fc3"):
        assert abs(sp[name] - 0.6) <= 0.02, sp
    assert sp["output"] < 0.1
    assert engine.sparsity(trained)["fc1"] < 0.05  # the input model was not modified
    assert [l.name for l in pruned.layers] == [l.name for l in trained.layers]


def test_quantize_bits_and_zeros(engine: KerasEngine, data: Dataset, pruned) -> None:
    cfg = {"bits": 6, "integer": 0, "activation": {"bits": 8, "integer": 2}, "epochs": 1, "batch_size": 64,
           "layers": {"fc2": {"bits": 4, "integer": 1, "activation": {"bits": 5, "integer": 1}}}}
    q = engine.quantize(pruned, data, cfg, seed=0)
    kinds = {l.name: type(l).__name__ for l in q.layers}
    assert kinds["fc1"] == kinds["output"] == "QDense" and kinds["relu1"] == "QActivation"
    assert kinds["softmax"] == "Activation"
    assert engine.bit_widths(q) == {
        "fc1": {"weight": 6, "bias": 6, "activation": 8}, "fc2": {"weight": 4, "bias": 4, "activation": 5},
        "fc3": {"weight": 6, "bias": 6, "activation": 8}, "output": {"weight": 6, "bias": 6}}
    kq = q.get_layer("fc2").kernel_quantizer_internal
    assert (kq.bits, kq.integer, kq.alpha) == (4, 1, 1)
    assert q.get_layer("relu2").quantizer.integer == 1
    for name in ("fc1", "fc2", "fc3"):  # every pruned zero is still exactly zero after QAT
        before = pruned.get_layer(name).kernel.numpy() == 0
        after = q.get_layer(name).kernel.numpy()
        assert before.mean() > 0.55 and np.all(after[before] == 0.0)


def test_quantize_input_quantizer(engine: KerasEngine, data: Dataset, trained) -> None:
    q = engine.quantize(trained, data, {"bits": 6, "input": {"bits": 10, "integer": 3}, "epochs": 0}, seed=0)
    layer = q.get_layer("input_quant")
    assert type(layer).__name__ == "QActivation" and (layer.quantizer.bits, layer.quantizer.integer) == (10, 3)
    assert engine.bit_widths(q)["input_quant"] == {"activation": 10}
    again = engine.quantize(q, data, {"bits": 6, "input": {"bits": 8, "integer": 3}, "epochs": 0}, seed=0)
    assert [l.name for l in again.layers].count("input_quant") == 1
    assert again.get_layer("input_quant").quantizer.bits == 8


def test_prune_structured_removes_whole_neurons(engine: KerasEngine, data: Dataset, trained) -> None:
    """structured: true zeroes whole kernel columns (output neurons), never the output layer."""
    pruned = engine.prune(trained, data, {**FAST, "sparsity": 0.5, "structured": True}, seed=0)
    dense = [l for l in pruned.layers if getattr(l, "kernel", None) is not None]
    for layer in dense:
        dead = np.all(layer.kernel.numpy() == 0, axis=0)
        want = 0 if layer is dense[-1] else round(0.5 * dead.size)
        assert dead.sum() == want, layer.name


def test_quantize_rejects_unknown_layer_override(engine: KerasEngine, data: Dataset, trained) -> None:
    with pytest.raises(HwaiError, match="fc9"):
        engine.quantize(trained, data, {"bits": 6, "layers": {"fc9": {"bits": 4}}, "epochs": 0}, seed=0)


def test_quantize_without_training_copies_weights(engine: KerasEngine, data: Dataset, trained) -> None:
    q = engine.quantize(trained, data, {"bits": 16, "integer": 5, "activation": {"bits": 16, "integer": 6},
                                        "epochs": 0}, seed=0)
    np.testing.assert_array_equal(q.get_layer("fc1").kernel.numpy(), trained.get_layer("fc1").kernel.numpy())
    # 16-bit quantization barely moves the logits
    np.testing.assert_allclose(engine.logits(q, data.x_test), engine.logits(trained, data.x_test), atol=0.05)


def test_save_restore_round_trip(engine: KerasEngine, data: Dataset, pruned, tmp_path: Path) -> None:
    q = engine.quantize(pruned, data, {"bits": 6, "integer": 0, "epochs": 0}, seed=0)
    for model, folder in ((pruned, tmp_path / "float"), (q, tmp_path / "q")):
        engine.save(model, folder)
        back = engine.restore(folder)
        np.testing.assert_array_equal(engine.logits(back, data.x_test), engine.logits(model, data.x_test))
        assert engine.bit_widths(back) == engine.bit_widths(model)
    with pytest.raises(HwaiError, match="no Keras checkpoint"):
        engine.restore(tmp_path / "empty")


def test_fused_softmax_model_is_canonicalized(engine: KerasEngine, data: Dataset, tmp_path: Path) -> None:
    import tensorflow as tf

    inp = tf.keras.Input(shape=(16,))
    hidden = tf.keras.layers.Dense(8, activation="relu", name="h")(inp)
    fused = tf.keras.Model(inp, tf.keras.layers.Dense(5, activation="softmax", name="out")(hidden))
    fused.save(tmp_path / "fused.h5")
    model = engine.build({"path": str(tmp_path / "fused.h5")}, data, seed=0)
    assert [l.name for l in model.layers][1:] == ["h", "h_act", "out", "softmax"]
    np.testing.assert_allclose(model.predict(data.x_test, verbose=0), fused.predict(data.x_test, verbose=0),
                               atol=1e-6)


# ----------------------------------------------------------------- shared reference models
def _ref(name: str) -> Path:
    path = REF / name
    if not path.is_file():
        pytest.skip(f"reference model {path} not present")
    return path


@pytest.fixture(scope="module")
def openml_rows() -> Dataset:
    if not OPENML_SAMPLE.is_file():
        pytest.skip(f"{OPENML_SAMPLE} not present")
    with np.load(OPENML_SAMPLE) as f:
        x, y = f["x_raw"].astype(np.float32), f["y"].astype(np.int64)
    names = ("g", "q", "t", "w", "z")  # this sample keeps OpenML's alphabetical order
    empty = np.zeros((0, 16), np.float32)
    return Dataset(empty, y[:0], empty, y[:0], x, y, names, tuple(f"f{i}" for i in range(16)),
                   np.zeros(16, np.float32), np.ones(16, np.float32))


@pytest.mark.parametrize("source", [
    {"path": "qkeras_3layer.json"},  # architecture + _weights.h5 found beside it
    {"path": "qkeras_3layer.json", "weights": "qkeras_3layer_weights.h5"},
    {"path": "qkeras-v3_3layer.keras"},  # written by Keras 3 / QKeras v3
])
def test_reference_qkeras_formats_score_as_published(engine: KerasEngine, openml_rows: Dataset, source: dict) -> None:
    cfg = {k: str(_ref(v)) for k, v in source.items()}
    model = engine.build(cfg, openml_rows, seed=0)
    acc = np.mean(np.argmax(engine.logits(model, openml_rows.x_test), axis=1) == openml_rows.y_test)
    assert acc == pytest.approx(0.774, abs=1e-3)  # the published 77.4% on these 1,000 rows
    assert engine.bit_widths(model)["fc1"] == {"weight": 6, "bias": 6, "activation": 6}


def test_reference_float_json_is_split_into_layers(engine: KerasEngine, openml_rows: Dataset) -> None:
    # (This old float model was trained with other preprocessing, so only exactness is checked.)
    from hwai.engines.keras.io import load_model_file

    original = load_model_file(_ref("KERAS_3layer.json"))
    model = engine.build({"path": str(_ref("KERAS_3layer.json"))}, openml_rows, seed=0)
    assert [type(l).__name__ for l in model.layers][-2:] == ["Dense", "Activation"]
    assert model.layers[-1].name == "softmax" and model.get_layer("fc1_relu_act").activation.__name__ == "relu"
    x = openml_rows.x_test
    np.testing.assert_array_equal(model.predict(x, verbose=0), original.predict(x, verbose=0))


@pytest.mark.parametrize("name, layer", [("KERAS_3layer_ternary_small.json", "TernaryDense"),
                                         ("hgq_jet_classifier.h5", "FixedPointQuantizer")])
def test_reference_unsupported_layers_are_named(engine: KerasEngine, openml_rows: Dataset, name: str,
                                                layer: str) -> None:
    try:
        import HGQ  # noqa: F401

        if layer == "FixedPointQuantizer":
            pytest.skip("HGQ installed: the proxy model loads")
    except ImportError:
        pass
    with pytest.raises(UnsupportedLayerError, match=layer):
        engine.build({"path": str(_ref(name))}, openml_rows, seed=0)


@pytest.mark.unit
def test_a_heads_relu_takes_its_own_dense_activation_spec() -> None:
    """Keras lists parallel heads' layers interleaved (b_fc1, a, b_fc1_relu): a ReLU's spec comes
    from the Dense it reads, not from the weight layer listed before it."""
    from hwai.engines.keras.models import build_multihead, chain_layers
    from hwai.engines.keras.quantize import layer_specs

    model = build_multihead(4, [{"name": "a", "task": "classify"}, {"name": "b", "task": "score"}], 3, [8], [6], 0)
    names = [l.name for l in chain_layers(model)]
    assert names.index("a") < names.index("b_fc1_relu")   # the interleaving this test is about
    specs = layer_specs(model, {"bits": 6, "layers": {"b_fc1": {"activation": {"bits": 9, "integer": 3}}}})
    assert specs["b_fc1_relu"]["activation"] == {"bits": 9, "integer": 3}
    assert specs["a_fc1_relu"]["activation"] == {"bits": 6, "integer": 0}
