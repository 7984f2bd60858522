"""Two heads on one trunk: Keras lists the heads' layers interleaved (by depth), and each
head still lowers as its own chain (``keras_graph.segments`` follows each layer's source)."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.ir.types import FixedType

tf = pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")
L = tf.keras.layers
T = FixedType(12, 5, True, "RND_CONV", "SAT")


def _two_heads() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(1)
    x = L.Input((6,), name="x")
    h = L.Dense(8, activation="relu", name="trunk")(x)
    a = L.Activation("softmax", name="a_soft")(L.Dense(3, name="a2")(L.Dense(4, activation="relu", name="a1")(h)))
    b = L.Dense(1, name="b2")(L.Dense(4, activation="relu", name="b1")(h))
    return tf.keras.Model(x, [a, b], name="heads")


@pytest.mark.unit
def test_interleaved_heads_are_one_chain_each() -> None:
    from hwai.frontends import keras_graph

    model = _two_heads()
    names = [layer.name for layer in model.layers]
    assert names.index("b1") < names.index("a_soft")   # head b inside head a: a layer-order walk cuts wrongly
    segs = [[layer.name for layer in seg] for seg in keras_graph.segments(model)]
    assert ["a1", "a2", "a_soft"] in segs and ["b1", "b2"] in segs


@pytest.mark.unit
def test_two_heads_lower_and_follow_keras() -> None:
    from hwai.frontends.keras import keras_logits, lower_keras
    from hwai.ir.interp import run_float_outputs

    model = _two_heads()
    g = lower_keras(model, T, weight_type=T, act_type=T)
    assert len(g.outputs) == 2 and g.meta["output_activations"] == ["softmax", "linear"]
    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    golden = np.concatenate(run_float_outputs(g, x), axis=1)
    assert golden.shape == (200, 4)
    assert np.abs(golden - keras_logits(model, x)).max() < 0.1   # 7 fraction bits everywhere
