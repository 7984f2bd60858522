"""``quantize: {method: hgq}`` on the Keras engine: HGQ 0.2.6 training -> proxy model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.errors import RecipeError, UnsupportedLayerError

tf = pytest.importorskip("tensorflow")
pytest.importorskip("HGQ")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.keras import KerasEngine  # noqa: E402
from hwai.engines.keras.hgq import build_hgq_model  # noqa: E402
from hwai.ir.numeric import DEFAULT_TYPE  # noqa: E402
from tests.engines.synthetic import blobs  # noqa: E402

pytestmark = pytest.mark.unit
MODEL = {"arch": "jet_mlp", "hidden": [16, 8]}
# lr 0.05: a handful of steps must move the bit widths
HGQ_CFG = {"method": "hgq", "beta": 1e-5, "epochs": 3, "batch_size": 32, "learning_rate": 0.05}


def tiny(n: int = 600, seed: int = 0) -> Dataset:
    return blobs(n, seed)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return tiny()


@pytest.fixture(scope="module")
def engine() -> KerasEngine:
    return KerasEngine()


@pytest.fixture(scope="module")
def pruned(engine: KerasEngine, data: Dataset):
    """A trained float model with half of fc1's kernel pruned (exact zeros)."""
    model = engine.train(engine.build(MODEL, data, 0), data, {"epochs": 2, "batch_size": 64}, 0)
    k = model.get_layer("fc1").kernel
    k.assign(np.where(np.arange(k.shape[1]) % 2 == 0, k.numpy(), 0.0))
    return model


@pytest.fixture(scope="module")
def proxy(engine: KerasEngine, data: Dataset, pruned):
    return engine.quantize(pruned, data, HGQ_CFG, 0)


def test_hgq_quantize_returns_a_proxy_that_lowers_with_learned_input_quantizer(engine, proxy, data) -> None:
    names = [l.name for l in proxy.layers]
    assert names[:3] == ["input", "input_quant", "fc1"] and "fc1_relu" in names and names[-1] == "softmax"
    graph = engine.lower(proxy, DEFAULT_TYPE, {})
    assert graph.nodes[0].name == "input_quant" and graph.inputs == ("input",)
    assert all(n.attrs.per_weight for n in graph.nodes if n.op == "dense")
    logits = engine.logits(proxy, data.x_test)
    assert logits.shape == (len(data.x_test), 5)


def test_pruned_zeros_stay_zero_and_count_as_sparsity(engine, proxy) -> None:
    kernel = proxy.get_layer("fc1").kernel.numpy()
    assert not kernel[:, 1::2].any()
    assert engine.sparsity(proxy)["fc1"] >= 0.5


def test_ebops_and_bit_widths_reported(engine, proxy) -> None:
    from hwai.estimate.rules import ebops as ir_ebops

    cost = engine.ebops(proxy)
    assert cost > 0 and cost == ir_ebops(engine.lower(proxy, DEFAULT_TYPE, {}))
    widths = engine.bit_widths(proxy)
    assert set(widths) == {"input_quant", "fc1", "fc2", "output"}
    fc1 = widths["fc1"]
    assert fc1["weight_min"] == 0 <= fc1["weight_mean"] <= fc1["weight"]   # pruned weights: 0 bits
    assert 0 <= fc1["activation_min"] <= fc1["activation_mean"] <= fc1["activation"]


def test_checkpoint_round_trip(engine, proxy, data, tmp_path: Path) -> None:
    engine.save(proxy, tmp_path)
    back = engine.restore(tmp_path)
    np.testing.assert_array_equal(engine.logits(back, data.x_test), engine.logits(proxy, data.x_test))
    assert engine.ebops(back) == engine.ebops(proxy)


def test_beta_is_the_ebops_penalty(engine, data, pruned, proxy) -> None:
    """A strong penalty ends with far fewer EBOPs than a weak one, from the same start."""
    tight = engine.quantize(pruned, data, {**HGQ_CFG, "beta": 1e-2}, 0)
    assert engine.ebops(tight) < 0.75 * engine.ebops(proxy)


def test_float_weights_are_copied_in(pruned) -> None:
    hmodel = build_hgq_model(pruned, beta=1e-5)
    np.testing.assert_array_equal(hmodel.get_layer("fc2").kernel.numpy(), pruned.get_layer("fc2").kernel.numpy())
    assert hmodel.get_layer("fc1").activation is tf.keras.activations.relu


def test_unsupported_float_layer_is_named(engine, data) -> None:
    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((16,)), L.Dense(8, name="d1"), L.LeakyReLU(name="leaky"),
                                 L.Dense(5, name="d2"), L.Activation("softmax", name="softmax")])
    with pytest.raises(UnsupportedLayerError, match=r"quantize: layer 'leaky' \(LeakyReLU\) is not supported "
                                                    r"by method hgq"):
        engine.quantize(model, data, {**HGQ_CFG, "epochs": 0}, 0)


def test_schema_knows_method_and_beta() -> None:
    from hwai.recipe.schema import recipe_from_dict

    base = {"name": "x", "model": {"arch": "jet_mlp"}, "data": {"source": "d.npz"}}
    r = recipe_from_dict({**base, "steps": [{"quantize": {"method": "hgq", "beta": 3e-6}}]})
    q = r.steps[0].cfg
    assert (q["method"], q["beta"], q["init_bits"]) == ("hgq", 3e-6, 2)
    assert recipe_from_dict({**base, "steps": ["quantize"]}).steps[0].cfg["method"] == "uniform"
    with pytest.raises(RecipeError, match=r"steps\[0\]\.quantize\.method"):
        recipe_from_dict({**base, "steps": [{"quantize": {"method": "hqg"}}]})
    with pytest.raises(RecipeError, match=r"steps\[0\]\.quantize\.beta: -1 is below the minimum 0"):
        recipe_from_dict({**base, "steps": [{"quantize": {"method": "hgq", "beta": -1}}]})
