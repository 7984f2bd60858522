"""Conv1D/Conv2D (QKeras QConv1D/QConv2D) lowered to ``patches`` + per-window ``dense``, and
Flatten/Reshape to ``reshape``: the golden model equals the QKeras forward pass on >= 10,000
vectors (valid/same, stride 1/2, with and without bias); unsupported settings are one line."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir import interp
from hwai.ir.graph import IRError, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.frontends.keras_conv import same_padding
from hwai.ops.patches import PatchesAttrs, patch_index

TIN = FixedType(8, 3, True, "RND_CONV", "SAT")
WQ = "quantized_bits(6,0,alpha=1)"
N_VECTORS = 10_000


@pytest.mark.unit
def test_windows_row_major_with_zero_padding() -> None:
    a = PatchesAttrs(kernel=(3,), strides=(2,), pad_before=(1,), pad_after=(1,), in_shape=(4, 2))
    # (L=4, C=2): windows at -1..1 and 1..3, (kernel offset, channel) order, -1 = padding
    assert patch_index(a, (4, 2)).tolist() == [-1, -1, 0, 1, 2, 3, 2, 3, 4, 5, 6, 7]
    assert same_padding(5, 3, 2) == (1, 1) and same_padding(4, 3, 2) == (0, 1) and same_padding(6, 1, 1) == (0, 0)


@pytest.mark.unit
def test_patches_golden_equals_numpy_windows() -> None:
    t = FixedType(5, 2)
    g = chain("p", Tensor("x", (4, 5, 2), t), [
        (Node("w", "patches", ("x",), ("w",), {"kernel": (2, 3), "strides": (2, 1), "pad_before": (0, 1),
                                                "pad_after": (1, 1), "in_shape": (4, 5, 2)}), Tensor("w", (2, 5, 12), t))]).validate()
    x = np.random.default_rng(0).integers(t.qmin, t.qmax + 1, (50, 4, 5, 2))
    xp = np.pad(x, [(0, 0), (0, 1), (1, 1), (0, 0)])
    want = np.stack([np.stack([xp[:, 2 * i:2 * i + 2, j:j + 3].reshape(50, -1) for j in range(5)], 1)
                     for i in range(2)], 1)
    assert (interp.run(g, x)["w"] == want).all()


@pytest.mark.unit
def test_bad_patches_shape_is_an_ir_error() -> None:
    t = FixedType(5, 2)
    with pytest.raises(IRError, match="node 'w': patches with kernel \\(3,\\), strides \\(1,\\) do not map input"):
        chain("p", Tensor("x", (4, 2), t), [
            (Node("w", "patches", ("x",), ("w",), {"kernel": (3,), "strides": (1,), "pad_before": (0,),
                                                    "pad_after": (0,), "in_shape": (4, 2)}), Tensor("w", (4, 6), t))]).validate()


# --- Keras -------------------------------------------------------------------------------


def conv_model(rank: int = 1, padding: str = "valid", strides: int = 1, use_bias: bool = True,
               head: str = "flatten", seed: int = 1):
    """QConv (4 filters) -> quantized_relu -> QConv (3 filters, own activation) -> Flatten or
    global average pooling -> QDense(3): every weight quantized, as after hwai's QAT."""
    tf = pytest.importorskip("tensorflow")
    from qkeras import QActivation, QConv1D, QConv2D, QDense

    L = tf.keras.layers
    conv, shape, k = (QConv1D, (8, 3), 3) if rank == 1 else (QConv2D, (5, 6, 2), (3, 2))
    pool = L.GlobalAveragePooling1D(name="pool") if head == "pool" else L.Flatten(name="flat")
    model = tf.keras.Sequential([
        L.Input(shape, name="x"),
        conv(4, k, strides=strides, padding=padding, use_bias=use_bias, kernel_quantizer=WQ,
             bias_quantizer=WQ if use_bias else None, name="c1"),
        QActivation("quantized_relu(6,2)", name="c1_act"),
        conv(3, k if rank == 1 else (2, 2), padding=padding, kernel_quantizer=WQ, bias_quantizer=WQ,
             activation="quantized_relu(6,2)", name="c2"),
        pool,
        QDense(3, kernel_quantizer=WQ, bias_quantizer=WQ, name="out"),
    ])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


CASES = [(1, "valid", 1, True), (1, "same", 1, False), (1, "valid", 2, False), (1, "same", 2, True),
         (2, "valid", 1, True), (2, "same", 2, False), (2, "valid", 2, True), (2, "same", 1, True)]


@pytest.mark.unit
@pytest.mark.parametrize("rank,padding,strides,use_bias", CASES)
def test_conv_golden_equals_qkeras(rank: int, padding: str, strides: int, use_bias: bool) -> None:
    pytest.importorskip("qkeras")
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = conv_model(rank, padding, strides, use_bias)
    g = lower_keras(model, TIN)
    assert [n.op for n in g.nodes][:3] == ["patches", "dense", "relu"]
    assert g.tensor("c1").shape == tuple(int(d) for d in model.get_layer("c1").output_shape[1:])
    assert g.node("flat").op == "reshape" and g.tensor("flat").shape == (g.tensor("flat").size,)
    a = agreement(model, g, make_vectors(g, N_VECTORS, seed=3))
    assert a.vector_equal == 1.0 and a.n_vectors == N_VECTORS


@pytest.mark.unit
def test_conv1d_with_global_pooling_equals_qkeras() -> None:
    pytest.importorskip("qkeras")
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = conv_model(1, "same", 1, True, head="pool")   # 8 positions: an exact average
    g = lower_keras(model, TIN)
    assert g.node("pool").op == "global_pool"
    assert agreement(model, g, make_vectors(g, N_VECTORS, seed=4)).vector_equal == 1.0


@pytest.mark.unit
def test_estimate_counts_every_position() -> None:
    pytest.importorskip("qkeras")
    from hwai.estimate import estimate
    from hwai.frontends.keras import lower_keras
    from hwai.target import Target

    g1 = lower_keras(conv_model(1, "valid", 1), TIN)
    g2 = lower_keras(conv_model(1, "valid", 2), TIN)
    e1, e2 = estimate(g1, Target()), estimate(g2, Target())
    assert e1.per_node["c1_patches"].lut == 0
    # stride 2 computes 3 of the 6 positions of stride 1: about half the multipliers' adders
    assert 0.3 < e2.per_node["c1"].lut / e1.per_node["c1"].lut < 0.7


@pytest.mark.unit
@pytest.mark.parametrize("kw,why", [
    ({"dilation_rate": 2}, r"dilation_rate \(2,\) \(supported: 1\)"),
    ({"padding": "causal"}, r"padding 'causal' \(supported: 'valid', 'same'\)"),
    ({"groups": 3}, r"groups=3 \(supported: 1\)"),
])
def test_unsupported_conv_settings_are_one_line(kw: dict, why: str) -> None:
    tf = pytest.importorskip("tensorflow")
    from hwai.frontends.keras import check_supported

    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((8, 3)), L.Conv1D(3, 3, name="c1", **kw), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match=rf"^layer 'c1' \(Conv1D\) is not supported: {why}; supported"):
        check_supported(model)


@pytest.mark.unit
@pytest.mark.parametrize("head,stride", [("pool", 1), ("flatten", 2)])
def test_conv1d_arch_qat_twin_lowers_exactly(head: str, stride: int) -> None:
    """``arch: conv1d`` -> hwai's QAT twin (QConv1D, quantized_relu, QDense) -> lowered graph equal
    to the QKeras forward pass (no training: the float weights copied in are quantized)."""
    pytest.importorskip("qkeras")
    from hwai.engines.keras.conv import build_conv1d
    from hwai.engines.keras.quantize import build_qmodel
    from hwai.frontends.keras import agreement, lower_keras
    from hwai.sim.vectors import make_vectors

    model = build_conv1d((8, 4), 5, [4, 3], 3, stride, head, [6], seed=0)
    q = build_qmodel(model, {"bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 2}})
    assert [type(q.get_layer(n)).__name__ for n in ("conv1", "conv2")] == ["QConv1D", "QConv1D"]
    assert q.get_layer("conv2").get_config()["strides"] == (stride,)
    g = lower_keras(q, TIN)
    assert g.node("conv1_patches").op == "patches" and g.node("pool" if head == "pool" else "flatten")
    assert agreement(q, g, make_vectors(g, N_VECTORS, seed=6)).vector_equal == 1.0


@pytest.mark.unit
def test_a_dilated_conv_model_file_exits_2_in_one_line(tmp_path, capsys) -> None:
    """``model.path`` with a dilated Conv1D: refused before training, one line naming the layer, exit 2."""
    tf = pytest.importorskip("tensorflow")
    from hwai import cli
    from tests.cli_fixtures import tiny_recipe

    L = tf.keras.layers
    path = tmp_path / "m.h5"
    tf.keras.Sequential([L.Input((4, 1)), L.Conv1D(2, 2, dilation_rate=2, name="c1"), L.Flatten(),
                         L.Dense(3)]).save(path)
    recipe = tiny_recipe(tmp_path, model={"path": str(path)})
    assert cli.main(["compress", str(recipe), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hwai: layer 'c1' (Conv1D) is not supported: dilation_rate (2,)")
    assert not (tmp_path / "run").exists()


@pytest.mark.unit
def test_conv_graph_saves_and_loads(tmp_path) -> None:
    """Tuple attributes come back from graph.json as lists; the reloaded graph computes the same."""
    from tests.codegen.test_conv_backends import conv2d_design

    g = conv2d_design()
    g.save(tmp_path / "g")
    h = interp.Graph.load(tmp_path / "g").validate()
    assert h.node("c1_patches").attrs.in_shape == (5, 6, 2) and h.node("flat").attrs.target_shape == (20,)
    x = np.random.default_rng(1).integers(TIN.qmin, TIN.qmax + 1, (200, 60))
    x = np.clip(x, g.tensor("x").type.qmin, g.tensor("x").type.qmax)
    assert (interp.run(g, x)["out"] == interp.run(h, x)["out"]).all()


@pytest.mark.unit
def test_reuse_factor_divides_the_conv_cost() -> None:
    from hwai.estimate import estimate
    from hwai.target import Target
    from tests.codegen.test_conv_backends import conv1d_design

    g = conv1d_design()
    rf2 = g.with_node(g.node("c1").with_impl(reuse_factor=2))
    one, two = estimate(g, Target()).per_node["c1"], estimate(rf2, Target()).per_node["c1"]
    assert two.lut == pytest.approx(one.lut / 2) and two.ii == 2
