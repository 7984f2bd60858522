"""Keras/QKeras Deep Sets (per-particle QDense on (P, F), global pooling, QDense head): the golden
model equals the QKeras forward pass on >= 10,000 vectors; unsupported pooling is one line."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType

tf = pytest.importorskip("tensorflow")
qkeras = pytest.importorskip("qkeras")

TIN = FixedType(8, 3, True, "RND_CONV", "SAT")
P, F = 8, 4


def deepsets_model(pool: str = "GlobalAveragePooling1D", seed: int = 1, **pool_kw) -> tf.keras.Model:
    from qkeras import QActivation, QDense

    L = tf.keras.layers
    wq = "quantized_bits(6,0,alpha=1)"
    model = tf.keras.Sequential([
        L.Input((P, F), name="particles"),
        QDense(6, kernel_quantizer=wq, bias_quantizer=wq, name="phi1"),
        QActivation("quantized_relu(6,2)", name="phi1_act"),
        QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="phi2", activation="quantized_relu(6,2)"),
        getattr(L, pool)(name="pool", **pool_kw),
        QDense(4, kernel_quantizer=wq, bias_quantizer=wq, name="rho1"),
        QActivation("quantized_relu(6,2)", name="rho1_act"),
        QDense(3, kernel_quantizer=wq, bias_quantizer=wq, name="out"),
        L.Activation("softmax", name="softmax"),
    ])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.unit
@pytest.mark.parametrize("pool,mode", [("GlobalAveragePooling1D", "avg"), ("GlobalMaxPooling1D", "max")])
def test_deepsets_lowers_and_equals_qkeras(pool: str, mode: str) -> None:
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = deepsets_model(pool)
    g = lower_keras(model, TIN)
    assert g.tensor(g.inputs[0]).shape == (P, F) and g.tensor("phi1").shape == (P, 6)
    assert g.node("pool").op == "global_pool" and g.node("pool").attrs.mode == mode
    assert g.tensor("pool").shape == (5,)
    a = agreement(model, g, make_vectors(g, 10_000, seed=3))
    assert a.vector_equal == 1.0 and a.n_vectors == 10_000


@pytest.mark.unit
def test_keepdims_pooling_is_one_line() -> None:
    from hwai.frontends.keras import check_supported

    with pytest.raises(UnsupportedLayerError, match=r"layer 'pool' \(GlobalAveragePooling1D\) is not supported: "
                                                    r"global pooling of a \(particles, channels\) input"):
        check_supported(deepsets_model(keepdims=True))
