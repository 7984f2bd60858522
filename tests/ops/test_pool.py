"""Sliding-window pooling (``pool``: max/avg, 1-D and 2-D, 'valid') and global pooling of
(H, W, C): golden semantics against numpy and the Keras/QKeras forward pass, shape rules,
one-line refusals. The backends are checked in tests/codegen/test_norm_pool_backends.py."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir import interp
from hwai.ir.graph import IRError
from hwai.ir.types import FixedType
from hwai.ops.pool import PoolAttrs, windows
from hwai.passes.precision import intervals
from hwai.sim.vectors import make_vectors
from tests.data.norm_helpers import pool_graph

TIN = FixedType(8, 3, True, "RND_CONV", "SAT")


def _numpy_pool(v: np.ndarray, mode: str, size: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """Keras' 'valid' pooling of (batch, *spatial, C) floats, written out with slices."""
    f = np.max if mode == "max" else np.mean
    if len(size) == 1:
        n = (v.shape[1] - size[0]) // stride[0] + 1
        return np.stack([f(v[:, i * stride[0]:i * stride[0] + size[0]], axis=1) for i in range(n)], axis=1)
    n0, n1 = ((v.shape[1 + a] - size[a]) // stride[a] + 1 for a in (0, 1))
    rows = [np.stack([f(v[:, i * stride[0]:i * stride[0] + size[0], j * stride[1]:j * stride[1] + size[1]],
                        axis=(1, 2)) for j in range(n1)], axis=1) for i in range(n0)]
    return np.stack(rows, axis=1)


CASES = [((8, 3), "max", (2,), (2,)), ((9, 3), "avg", (4,), (1,)), ((4, 4, 2), "avg", (2, 2), (2, 2)),
         ((5, 5, 2), "max", (3, 2), (2, 1)), ((6, 3, 2), "avg", (2, 1), (1, 2))]


@pytest.mark.unit
@pytest.mark.parametrize("shape,mode,size,stride", CASES)
def test_golden_equals_numpy_pooling(shape, mode, size, stride) -> None:
    out_t = FixedType(6, 3, False, "RND", "SAT") if mode == "avg" else None   # avg: one rounding cast
    g = pool_graph(shape, mode, size, stride, out_type=out_t)
    x = make_vectors(g, 3000, seed=1)
    tr = interp.run_reference(g, x, trace=True)
    tin, tout = g.tensor("relu1_out").type, g.tensor("pool_out").type
    want = _numpy_pool(tin.to_float(tr["relu1_out"]), mode, size, stride)
    assert tr["pool_out"].shape == (3000,) + g.tensor("pool_out").shape
    assert (tr["pool_out"] == tout.from_float(want)).all()                # exact pre-value, one cast
    assert len(np.unique(tr["pool_out"])) > 20
    lo, hi, _ = intervals(g)["pool_out"]
    got = tr["pool_out"].reshape(3000, -1)
    assert (got >= lo.ravel().astype(np.int64)).all() and (got <= hi.ravel().astype(np.int64)).all()
    assert (interp.run(g, x)["fc2_out"] == interp.run_reference(g, x)["fc2_out"]).all()


@pytest.mark.unit
def test_windows_are_row_major() -> None:
    w = windows(PoolAttrs("max", (2, 2), (2, 1)), (4, 3, 5))
    assert w.tolist() == [[0, 1, 3, 4], [1, 2, 4, 5], [6, 7, 9, 10], [7, 8, 10, 11]]


@pytest.mark.unit
def test_average_window_must_be_a_power_of_two() -> None:
    with pytest.raises(IRError, match="node 'pool': average pooling over a window of 3 elements needs a "
                                      "power-of-two window"):
        pool_graph((8, 3), "avg", (3,), (1,))


@pytest.mark.unit
def test_global_pool_2d_is_the_pool_over_every_position() -> None:
    g = pool_graph((4, 4, 2), "avg", (), (), then_global="avg")
    x = make_vectors(g, 2000, seed=2)
    tr = interp.run_reference(g, x, trace=True)
    v = g.tensor("relu1_out").type.to_float(tr["relu1_out"])
    assert g.tensor("gpool_out").shape == (4,)
    assert (tr["gpool_out"] == g.tensor("gpool_out").type.from_float(v.mean(axis=(1, 2)))).all()


@pytest.mark.unit
def test_estimate_counts_window_adders() -> None:
    from hwai.estimate import estimate
    from hwai.target import Target

    small = estimate(pool_graph((8, 3), "max", (2,), (2,)), Target()).per_node["pool"]
    big = estimate(pool_graph((8, 3), "max", (4,), (2,)), Target()).per_node["pool"]
    assert 0 < small.lut < big.lut           # 4 outputs x (2-1) vs 3 outputs x (4-1) compare-selects


# --- Keras / QKeras ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("qkeras")
    return tf


def _agree(model):
    from hwai.frontends.keras import agreement, lower_keras

    g = lower_keras(model, TIN)
    return g, agreement(model, g, make_vectors(g, 10_000, seed=3))


def _grid(model, rng: np.random.Generator) -> None:
    for layer in model.layers:
        if layer.get_weights():
            layer.set_weights([(rng.integers(-8, 9, w.shape) * 0.25).astype(np.float32) for w in layer.get_weights()])


def test_maxpool1d_then_per_row_dense_equals_keras(keras) -> None:
    """(L, C) -> MaxPooling1D -> per-row QDense -> quantized relu -> global average -> QDense."""
    from qkeras import QActivation, QDense

    q = "quantized_bits(6,2,alpha=1)"
    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((8, 3), name="x"), L.MaxPooling1D(2, name="mp"),
                                    QDense(4, kernel_quantizer=q, bias_quantizer=q, name="d1"),
                                    QActivation("quantized_relu(8,3)", name="r1"),
                                    L.GlobalAveragePooling1D(name="gap"),
                                    QDense(3, kernel_quantizer=q, bias_quantizer=q, name="d2")])
    _grid(model, np.random.default_rng(0))
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["pool", "dense", "relu", "global_pool", "dense"]
    assert g.tensor("mp").shape == (4, 3) and g.node("mp").attrs.pool_size == (2,)
    assert a.vector_equal == 1.0, a.summary()


@pytest.mark.parametrize("pool,gpool", [("AveragePooling2D", "GlobalAveragePooling2D"),
                                        ("MaxPooling2D", "GlobalMaxPooling2D")])
def test_pool2d_then_global_pool_equals_keras(keras, pool: str, gpool: str) -> None:
    """(H, W, C) -> Average/MaxPooling2D -> GlobalAverage/MaxPooling2D -> QDense."""
    from qkeras import QDense

    q = "quantized_bits(6,2,alpha=1)"
    L = keras.keras.layers
    pool_kw = {"pool_size": (2, 2)} if pool.startswith("Average") else {"pool_size": (3, 2), "strides": (2, 1)}
    model = keras.keras.Sequential([L.Input((4, 5, 2) if pool.startswith("Average") else (5, 5, 2), name="x"),
                                    getattr(L, pool)(name="p", **pool_kw), getattr(L, gpool)(name="g"),
                                    QDense(3, kernel_quantizer=q, bias_quantizer=q, name="d")])
    _grid(model, np.random.default_rng(1))
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["pool", "global_pool", "dense"]
    assert a.vector_equal == 1.0, a.summary()


@pytest.mark.parametrize("layer,why", [
    ("AveragePooling1D(3, name='bad')", "average pooling over a 3-element window (pool_size (3,)); use a "
                                        "power-of-two window"),
    ("MaxPooling1D(2, padding='same', name='bad')", "pooling with padding 'same' (only 'valid'"),
])
def test_unsupported_pooling_is_one_line(keras, layer: str, why: str) -> None:
    from hwai.frontends.keras import check_supported

    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((8, 3), name="x"), eval(f"L.{layer}"),
                                    L.GlobalMaxPooling1D(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(model)
    msg = str(err.value)
    assert err.value.exit_code == 2 and "\n" not in msg
    assert msg.startswith("layer 'bad' (") and why in msg


def test_global_average_over_a_non_power_of_two_is_one_line(keras) -> None:
    from hwai.frontends.keras import check_supported

    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((3, 4, 2), name="x"), L.GlobalAveragePooling2D(name="gap"), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(model)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert "layer 'gap' (GlobalAveragePooling2D) is not supported: global average pooling over 12 positions " \
           "(3, 4); a power-of-two count is needed" in str(err.value)


def test_pooling_then_flatten_then_dense_equals_keras(keras) -> None:
    """(L, C) -> MaxPooling1D -> Flatten (a reshape: no data moves) -> QDense."""
    from qkeras import QDense

    q = "quantized_bits(6,2,alpha=1)"
    L = keras.keras.layers
    model = keras.keras.Sequential([L.Input((8, 3), name="x"), L.MaxPooling1D(2, name="mp"),
                                    L.Flatten(name="fl"), QDense(2, kernel_quantizer=q, bias_quantizer=q, name="d")])
    _grid(model, np.random.default_rng(5))
    g, a = _agree(model)
    assert [n.op for n in g.nodes] == ["pool", "reshape", "dense"]
    assert a.vector_equal == 1.0, a.summary()
