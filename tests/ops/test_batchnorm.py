"""Batch normalization: folded into a preceding float Dense (float weights, then quantized), or a
standalone ``batchnorm`` op (after an activation, on the input, after a QDense); the golden model
against numpy and against the Keras/QKeras forward pass; one-line refusals. The backends are
checked in tests/codegen/test_norm_pool_backends.py."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.frontends.keras_layers import fold_scale_shift
from hwai.ir import interp
from hwai.ir.graph import IRError, Node
from hwai.ir.types import FixedType
from hwai.passes.precision import intervals
from hwai.sim.vectors import make_vectors
from tests.data.norm_helpers import bn_graph, bn_input_graph

TIN = FixedType(8, 3, True, "RND_CONV", "SAT")
EPS = 2.0 ** -10            # var + eps = 0.25 exactly: scale = 2 * gamma, exact in float32


@pytest.mark.unit
@pytest.mark.parametrize("shape", [(6,), (4, 6)])
def test_golden_is_one_cast_of_the_exact_scaled_sum(shape: tuple[int, ...]) -> None:
    g = bn_graph(shape, out_type=FixedType(7, 3, True, "RND", "SAT"))
    x = make_vectors(g, 3000, seed=2)
    tr = interp.run_reference(g, x, trace=True)
    a, tin, tout = g.node("bn").attrs, g.tensor("relu1_out").type, g.tensor("bn_out").type
    v = tin.to_float(tr["relu1_out"]) * a.scale_type.to_float(a.scale) + a.shift_type.to_float(a.shift)
    assert (tr["bn_out"] == tout.from_float(v)).all()          # float64 is exact at these widths
    assert len(np.unique(tr["bn_out"])) > 50
    lo, hi, _ = intervals(g)["bn_out"]
    got = tr["bn_out"].reshape(len(x), -1)
    assert (got >= lo.ravel().astype(np.int64)).all() and (got <= hi.ravel().astype(np.int64)).all()
    assert (interp.run(g, x)["fc2_out"] == interp.run_reference(g, x)["fc2_out"]).all()


@pytest.mark.unit
def test_exact_output_type_holds_every_value() -> None:
    g = bn_input_graph()
    x = make_vectors(g, 2000, seed=4)
    tr = interp.run_reference(g, x, trace=True)
    a, t = g.node("bn_in").attrs, g.tensor("bn_in_out").type
    v = TIN.to_float(tr["x"]) * a.scale_type.to_float(a.scale) + a.shift_type.to_float(a.shift)
    assert (t.to_float(tr["bn_in_out"]) == v).all()             # no rounding, no overflow


@pytest.mark.unit
def test_shape_and_codes_checked() -> None:
    g = bn_graph()
    n = g.node("bn")
    with pytest.raises(IRError, match="node 'bn': batchnorm scale .4,. / shift .4,. do not match"):
        g.with_node(Node("bn", "batchnorm", n.inputs, n.outputs, {**n.attrs, "scale": n.attrs.scale[:4],
                                                                  "shift": n.attrs.shift[:4]})).validate()


@pytest.mark.unit
def test_estimate_prices_the_multipliers() -> None:
    from hwai.estimate import estimate
    from hwai.target import Target

    per = estimate(bn_graph(), Target()).per_node
    row = estimate(bn_graph((4, 6)), Target()).per_node
    assert per["bn"].lut > 0 and per["bn"].latency_cycles >= 1
    assert row["bn"].lut == pytest.approx(4 * per["bn"].lut, rel=0.3)   # one multiplier per element


@pytest.mark.unit
def test_fold_scale_shift_is_dense_then_scale() -> None:
    """The folding helper for linear layers: Dense kernels (n_in, n_out) and Conv kernels
    (..., c_in, c_out) both scale their last (output-channel) axis."""
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=3), rng.normal(size=3)
    w, b = rng.normal(size=(5, 3)), rng.normal(size=3)
    x = rng.normal(size=(7, 5))
    fw, fb = fold_scale_shift(w, b, s, t)
    np.testing.assert_allclose(x @ fw + fb, (x @ w + b) * s + t)
    k = rng.normal(size=(3, 3, 2, 3))
    fk, _ = fold_scale_shift(k, b, s, t)
    np.testing.assert_allclose(fk[1, 2, 0], k[1, 2, 0] * s)


# --- Keras / QKeras ---------------------------------------------------------------------

def _bn_weights(layer, rng: np.random.Generator) -> None:
    c = layer.gamma.shape[0]
    layer.set_weights([rng.choice([-1.5, -0.5, 0.25, 0.75, 1.0], c).astype(np.float32),
                       rng.choice([-1.0, -0.25, 0.0, 0.5], c).astype(np.float32),
                       rng.choice([-0.5, 0.0, 0.25, 1.0], c).astype(np.float32),
                       np.full(c, 0.25 - EPS, np.float32)])


def _grid_weights(layer, rng: np.random.Generator, step: float = 0.125) -> None:
    layer.set_weights([(rng.integers(-8, 9, w.shape) * step).astype(np.float32) for w in layer.get_weights()])


def _agree(model, tin: FixedType = TIN):
    from hwai.frontends.keras import agreement, lower_keras

    g = lower_keras(model, tin)
    a = agreement(model, g, make_vectors(g, 10_000, seed=3))
    return g, a


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("qkeras")
    return tf


def test_dense_bn_relu_folds_and_equals_keras(keras) -> None:
    """Dense -> BN -> quantized relu: BN folded into the Dense's float weights, then quantized;
    on-grid parameters make the Keras forward pass exact, so golden must equal it."""
    from qkeras import QActivation, QDense

    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((6,), name="x"), L.Dense(5, name="d1"),
                                    L.BatchNormalization(epsilon=EPS, name="bn"),
                                    QActivation("quantized_relu(8,3)", name="r1"),
                                    QDense(3, kernel_quantizer="quantized_bits(6,2,alpha=1)",
                                           bias_quantizer="quantized_bits(6,2,alpha=1)", name="d2")])
    rng = np.random.default_rng(0)
    _grid_weights(model.get_layer("d1"), rng)
    _bn_weights(model.get_layer("bn"), rng)
    _grid_weights(model.get_layer("d2"), rng, 0.25)
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["dense", "relu", "dense"]      # no batchnorm node: folded
    assert a.vector_equal == 1.0, a.summary()


def test_relu_bn_standalone_equals_keras(keras) -> None:
    """QDense -> quantized relu -> BN -> quantized_bits -> QDense: BN stays a batchnorm node."""
    from qkeras import QActivation, QDense

    q = "quantized_bits(6,2,alpha=1)"
    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((6,), name="x"), QDense(5, kernel_quantizer=q, bias_quantizer=q, name="d1"),
                                    QActivation("quantized_relu(8,3)", name="r1"),
                                    L.BatchNormalization(epsilon=EPS, name="bn"),
                                    QActivation("quantized_bits(10,4,alpha=1)", name="q1"),
                                    QDense(3, kernel_quantizer=q, bias_quantizer=q, name="d2")])
    rng = np.random.default_rng(1)
    _grid_weights(model.get_layer("d1"), rng, 0.25)
    _bn_weights(model.get_layer("bn"), rng)
    _grid_weights(model.get_layer("d2"), rng, 0.25)
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["dense", "relu", "batchnorm", "quant", "dense"]
    assert g.meta["layers"]["bn"] == "bn"
    assert a.vector_equal == 1.0, a.summary()


def test_bn_on_input_and_qbatchnorm_equal_keras(keras) -> None:
    """BN on the input (standalone) and a QBatchNormalization whose gamma/beta pass through its
    own quantizers after an activation: golden equals QKeras."""
    from qkeras import QActivation, QBatchNormalization, QDense

    q = "quantized_bits(6,2,alpha=1)"
    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((6,), name="x"), L.BatchNormalization(epsilon=EPS, name="bn0"),
                                    QActivation("quantized_bits(10,4,alpha=1)", name="q0"),
                                    QDense(5, kernel_quantizer=q, bias_quantizer=q, name="d1"),
                                    QActivation("quantized_relu(8,3)", name="r1"),
                                    QBatchNormalization(epsilon=EPS, gamma_quantizer="quantized_bits(4,1,alpha=1)",
                                                        beta_quantizer="quantized_bits(4,1,alpha=1)", name="qbn"),
                                    QActivation("quantized_bits(10,4,alpha=1)", name="q1")])
    rng = np.random.default_rng(2)
    _bn_weights(model.get_layer("bn0"), rng)
    _grid_weights(model.get_layer("d1"), rng, 0.25)
    w = model.get_layer("qbn").get_weights()
    model.get_layer("qbn").set_weights([rng.normal(0, 1, w[0].shape).astype(np.float32),   # off-grid: quantized
                                        rng.normal(0, 1, w[1].shape).astype(np.float32),
                                        np.zeros_like(w[2]), np.full_like(w[3], 0.25 - EPS)])
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["batchnorm", "quant", "dense", "relu", "batchnorm", "quant"]
    assert a.vector_equal == 1.0, a.summary()


def test_unsupported_batchnorm_axis_is_one_line(keras) -> None:
    from hwai.frontends.keras import check_supported

    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((4, 3), name="x"), L.BatchNormalization(axis=1, name="bn_rows"),
                                    L.GlobalAveragePooling1D(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(model)
    msg = str(err.value)
    assert err.value.exit_code == 2 and "\n" not in msg
    assert "layer 'bn_rows' (BatchNormalization) is not supported: batch normalization over axis 1 " \
           "(only the last, channel axis)" in msg


def test_conv_bn_relu_folds_and_equals_keras(keras) -> None:
    """Conv1D -> BN -> quantized relu: BN folded into the conv's per-window dense, like a Dense."""
    from qkeras import QActivation

    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((8, 3), name="x"), L.Conv1D(4, 3, padding="same", name="c1"),
                                    L.BatchNormalization(epsilon=EPS, name="bn"),
                                    QActivation("quantized_relu(8,3)", name="r1"),
                                    L.GlobalAveragePooling1D(name="gap")])
    rng = np.random.default_rng(4)
    _grid_weights(model.get_layer("c1"), rng)
    _bn_weights(model.get_layer("bn"), rng)
    g, a = _agree(model)
    assert "batchnorm" not in [n.op for n in g.nodes]               # folded into the conv's dense
    assert a.vector_equal == 1.0, a.summary()
