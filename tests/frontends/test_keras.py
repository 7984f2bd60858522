"""Keras/QKeras frontend: exact quantizer equivalents, lowering, errors, QKeras agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType

tf = pytest.importorskip("tensorflow")
qkeras = pytest.importorskip("qkeras")

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TIN = FixedType(8, 3, True, "RND_CONV", "SAT")


def qmodel(act: str = "quantized_relu(6,2)", last: str = "quantized_bits(8,3,alpha=1)",
           seed: int = 1, wq: str = "quantized_bits(6,0,alpha=1)") -> tf.keras.Model:
    """8-16-8-4 QKeras MLP with deterministic random weights and a final softmax."""
    from qkeras import QActivation, QDense

    L = tf.keras.layers
    model = tf.keras.Sequential([
        L.Input((8,), name="x"),
        QDense(16, kernel_quantizer=wq, bias_quantizer=wq, name="fc1"),
        QActivation(act, name="act1"),
        QDense(8, kernel_quantizer=wq, bias_quantizer=wq, name="fc2", activation=act),
        QDense(4, kernel_quantizer=wq, bias_quantizer=wq, name="fc3"),
        QActivation(last, name="q_out"),
        L.Activation("softmax", name="softmax"),
    ])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("spec,expected", [
    ("quantized_bits(6,2,alpha=1)", FixedType(6, 3, True, "RND_CONV", "SAT")),
    ("quantized_bits(6,2,1,alpha=1)", FixedType(6, 3, True, "RND_CONV", "SAT_SYM")),
    ("quantized_bits(5,1,keep_negative=False,alpha=1)", FixedType(5, 1, False, "RND_CONV", "SAT")),
    ("quantized_relu(6,2)", FixedType(6, 2, False, "RND_CONV", "SAT")),
    ("quantized_relu(4,0)", FixedType(4, 0, False, "RND_CONV", "SAT")),
])
def test_quantizer_equals_ap_fixed_cast(spec: str, expected: FixedType) -> None:
    """QKeras' float forward pass == the ap_fixed cast, on every tie and beyond the range."""
    from qkeras import QActivation

    from hwai.frontends.keras_layers import activation_kind

    layer = QActivation(spec)
    kind, ftype = activation_kind(layer, layer.quantizer)
    assert ftype == expected
    x = np.arange(-2600, 2601, dtype=np.float64) / 256.0  # 1/512 steps hit every tie
    got = np.asarray(layer(tf.constant(x, dtype=tf.float32)), dtype=np.float64)
    want = ftype.to_float(ftype.from_float(x))
    np.testing.assert_array_equal(got, want)


def test_lower_types_and_meta() -> None:
    from hwai.frontends.keras import lower_keras

    g = lower_keras(qmodel(), TIN, name="mlp")
    ops = [(n.name, n.op) for n in g.nodes]
    assert ops == [("fc1", "dense"), ("act1", "relu"), ("fc2", "dense"),
                   ("fc2_quant_relu", "relu"), ("fc3", "dense"), ("q_out", "quant")]
    assert g.tensor("act1").type == FixedType(6, 2, False, "RND_CONV", "SAT")
    assert g.tensor("q_out").type == FixedType(8, 4, True, "RND_CONV", "SAT")
    assert g.node("fc1").attrs["weight_type"].frac == 5  # quantized_bits(6,0): 5 fractional bits
    assert g.meta["output_activation"] == "softmax" and g.meta["framework"] == "keras"
    assert g.meta["layers"]["fc2_quant_relu"] == "fc2"
    # untyped dense outputs are filled with the exact accumulator type
    assert g.tensor("fc1").type == g.node("fc1").attrs["accum_type"].exact()


@pytest.mark.parametrize("act,last", [("quantized_relu(6,2)", "quantized_bits(8,3,alpha=1)"),
                                      ("quantized_relu(4,0)", "quantized_bits(6,1,1,alpha=1)")])
def test_golden_equals_qkeras(act: str, last: str) -> None:
    """On-grid inputs: the golden interpreter reproduces QKeras' outputs code for code."""
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = qmodel(act, last)
    g = lower_keras(model, TIN)
    a = agreement(model, g, make_vectors(g, 3000, seed=3))
    assert a.n_vectors == 3000
    assert a.vector_equal == 1.0, a.summary()
    assert a.argmax_equal == 1.0


def test_float_dense_batchnorm_relu() -> None:
    """Float Dense + BN fold + relu: weights in weight_type, relu cast to unsigned act_type."""
    from hwai.frontends.keras import keras_logits, lower_keras

    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((6,)), L.Dense(5, name="d1"), L.BatchNormalization(name="bn"),
                                 L.Activation("relu", name="r1"), L.Dropout(0.5), L.Dense(3, name="d2")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.1, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    wt, at = FixedType(12, 4, True, "RND_CONV", "SAT"), FixedType(14, 6, True, "RND_CONV", "SAT")
    g = lower_keras(model, TIN, weight_type=wt, act_type=at)
    assert [n.op for n in g.nodes] == ["dense", "relu", "dense", "quant"]
    assert g.tensor("r1").type == FixedType(14, 6, False, "RND_CONV", "SAT")
    assert g.node("d1").attrs["weight_type"] == wt
    x = TIN.to_float(np.random.default_rng(1).integers(-128, 128, (200, 6)))
    from hwai.ir.interp import run_float
    err = np.abs(run_float(g, x) - keras_logits(model, x)).max()
    assert err < 0.1  # float model: close, not exact (weights rounded to 8 fractional bits)


def test_unsupported_layer_named_before_work() -> None:
    from hwai.frontends.keras import lower_keras

    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((8, 2)), L.SimpleRNN(2, name="rnn"), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError) as err:
        lower_keras(model, TIN)
    msg = str(err.value)
    assert "'rnn'" in msg and "SimpleRNN" in msg and "QDense" in msg and "\n" not in msg


def test_softmax_in_the_middle_rejected() -> None:
    from hwai.frontends.keras import lower_keras

    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((4,)), L.Dense(4, activation="softmax", name="mid"), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="'mid'.*last layer"):
        lower_keras(model, TIN)


def test_non_po2_alpha_rejected() -> None:
    from hwai.frontends.keras import lower_keras

    model = qmodel(wq="quantized_bits(6,0,alpha='auto')")
    with pytest.raises(UnsupportedLayerError) as err:
        lower_keras(model, TIN)
    msg = str(err.value)
    assert "'fc1'" in msg and "alpha=1" in msg and "auto_po2" in msg


def test_auto_po2_weights_are_exact() -> None:
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = qmodel(wq="quantized_bits(6,0,alpha='auto_po2')")
    g = lower_keras(model, TIN)
    assert g.node("fc1").attrs["weight_type"].width <= 12
    assert agreement(model, g, make_vectors(g, 1000, seed=5)).vector_equal == 1.0


@pytest.mark.slow
def test_reference_qkeras_jet_model_agreement(qkeras_reference, openml_rows) -> None:
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    tin = FixedType(16, 6, True, "RND_CONV", "SAT")
    g = lower_keras(qkeras_reference, tin, name="jet")
    a = agreement(qkeras_reference, g, make_vectors(g, 20000, seed=0, real_codes=tin.from_float(openml_rows[0])))
    assert a.argmax_equal >= 0.999 and a.code_equal >= 0.999, a.summary()


def test_leaky_relu_layer_maps_to_the_exact_op() -> None:
    """LeakyReLU(alpha=2**-k) after a float Dense: leaky_relu(shift=k) cast to act_type."""
    from hwai.errors import UnsupportedLayerError
    from hwai.frontends.keras import keras_logits, lower_keras
    from hwai.ir.interp import run_float

    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((6,)), L.Dense(5, name="d1"), L.LeakyReLU(alpha=0.125, name="lk"),
                                 L.Dense(3, name="d2")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    at = FixedType(16, 6, True, "RND_CONV", "SAT")
    g = lower_keras(model, TIN, weight_type=FixedType(12, 4, True, "RND_CONV", "SAT"), act_type=at)
    assert [n.op for n in g.nodes] == ["dense", "leaky_relu", "dense", "quant"]
    assert g.node("lk").attrs.shift == 3 and g.tensor("lk").type == at
    x = TIN.to_float(np.random.default_rng(1).integers(-128, 128, (200, 6)))
    assert np.abs(run_float(g, x) - keras_logits(model, x)).max() < 0.1
    bad = tf.keras.Sequential([L.Input((6,)), L.Dense(5, name="d1"), L.LeakyReLU(alpha=0.3, name="lk")])
    with pytest.raises(UnsupportedLayerError, match="layer 'lk' .*alpha 0.3.* not a power of two"):
        lower_keras(bad, TIN, weight_type=at, act_type=at)
