"""Keras functional models with branches in every backend: a skip connection (x -> Dense -> ReLU
-> Dense, Add with x) and a two-input, two-output hybrid (particles -> per-particle Dense ->
GlobalAveragePooling1D, Concatenate with the jet features -> Dense; the pooled features are a
second output). Each is lowered, equals the QKeras forward pass, and the native ap_fixed / int64
C simulations, Verilator and hls4ml's C simulation equal the golden model on >= 10,000 vectors
(corner vectors per input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs, split_inputs
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import mismatches, native_apfixed_mismatches, needs

pytest.importorskip("qkeras")

N_VECTORS = 10_000
INPUT = FixedType(9, 4, True, "RND_CONV", "SAT")
FEATURES = FixedType(8, 3, True, "RND_CONV", "SAT")


def _qdense(n: int, name: str):
    from qkeras import QDense, quantized_bits
    return QDense(n, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1),
                  kernel_initializer="glorot_uniform", bias_initializer="random_normal", name=name)


def _relu(name: str):
    from qkeras import QActivation, quantized_relu
    return QActivation(quantized_relu(7, 3), name=name)


def skip_model():
    import tensorflow as tf
    tf.keras.utils.set_random_seed(3)
    x = tf.keras.Input((8,), name="jet")
    h = _qdense(8, "fc2")(_relu("relu1")(_qdense(12, "fc1")(x)))
    s = tf.keras.layers.Add(name="skip")([x, h])
    y = _qdense(5, "out")(_relu("relu2")(s))
    return tf.keras.Model(x, tf.keras.layers.Activation("softmax", name="prob")(y), name="skip")


def hybrid_model():
    import tensorflow as tf
    tf.keras.utils.set_random_seed(4)
    p = tf.keras.Input((8, 3), name="particles")
    f = tf.keras.Input((6,), name="features")
    h = _relu("phi_relu")(_qdense(6, "phi")(p))
    pool = tf.keras.layers.GlobalAveragePooling1D(name="pool")(h)
    join = tf.keras.layers.Concatenate(name="join")([pool, f])
    y = _qdense(5, "rho")(join)
    return tf.keras.Model([p, f], [y, pool], name="hybrid")


MODELS = {"skip": (skip_model, INPUT), "hybrid": (hybrid_model, {"particles": INPUT, "features": FEATURES})}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request) -> tuple[object, Graph, np.ndarray, np.ndarray]:
    from hwai.frontends.keras import lower_keras

    build, in_type = MODELS[request.param]
    model = build()
    g = lower_keras(model, in_type, name=request.param).validate()
    x = make_vectors(g, N_VECTORS, seed=11)
    return model, g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_graph_structure(case) -> None:
    _, g, _, _ = case
    ops = [n.op for n in g.nodes]
    if g.name == "skip":
        assert g.inputs == ("jet",) and g.outputs == ("out",) and "add" in ops
        assert g.node("skip").inputs == ("jet", "fc2") and g.meta["output_activation"] == "softmax"
    else:
        assert g.inputs == ("particles", "features") and g.outputs == ("rho", "pool")
        assert g.node("join").inputs == ("pool", "features") and g.node("join").attrs.axis == -1
        assert g.tensor("particles").shape == (8, 3) and g.tensor("join").shape == (12,)


@pytest.mark.unit
def test_keras_forward_equals_golden(case) -> None:
    """QKeras' float forward pass, snapped to each output's grid, is the golden model's code."""
    from hwai.frontends.keras import keras_logits

    model, g, x, golden = case
    xs = split_inputs(g, x)
    real = [g.tensor(t).type.to_float(xs[t]) for t in g.inputs]
    got = keras_logits(model, real if len(real) > 1 else real[0])
    frac = np.concatenate([np.full(g.tensor(o).size, g.tensor(o).type.frac) for o in g.outputs])
    assert np.array_equal(np.ldexp(got, frac), golden)
    assert len(np.unique(golden, axis=0)) > 1000


@pytest.mark.unit
def test_vectors_have_corners_per_input(case) -> None:
    from hwai.sim.vectors import corner_vectors

    _, g, x, _ = case
    col = 0
    for t in g.inputs:
        size, tt = g.tensor(t).size, g.tensor(t).type
        part = x[:, col:col + size]
        assert part.min() == tt.qmin and part.max() == tt.qmax
        corners = corner_vectors(g, t)
        if t != "features":   # the features only meet a dense after the concatenation
            assert len(corners) > 0 and np.array_equal(part[:2], corners[:2])
        col += size


@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(case, tmp_path: Path) -> None:
    _, g, x, golden = case
    assert native_apfixed_mismatches(g, Target(project_name=g.name), x, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_ports_are_named_from_the_keras_tensors(case) -> None:
    _, g, _, _ = case
    top = generate(g, Target(project_name=g.name)).text(f"firmware/{g.name}.h")
    for t in (*g.inputs, *g.outputs):
        assert f" {t}[" in top


@pytest.mark.csim
def test_native_int_csim_equals_golden(case) -> None:
    needs("g++")
    from hwai.sim.fast_csim import csim_fast

    _, g, x, golden = case
    assert mismatches(csim_fast(g, x), golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    needs("verilator")
    from hwai.codegen.verilog import generate_verilog
    from hwai.sim.rtl import rtl_sim

    _, g, x, golden = case
    files = generate_verilog(g, Target(project_name=g.name), stages=2)
    text = files.text(f"{g.name}.v")
    ports = ["particles", "features", "rho", "pool"] if g.name == "hybrid" else ["in_data", "out_data"]
    assert all(f"] {p}" in text for p in ports)
    assert mismatches(rtl_sim(g, files, x, workdir=tmp_path), golden) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    _, g, x, golden = case
    hls_model = to_hls4ml(g, tmp_path / "hls", Target(project_name=g.name), vectors=x[:200])
    kinds = {type(l).__name__ for l in hls_model.graph.values()}   # backend subclasses: VitisMerge, ...
    assert any(k.endswith("Merge" if g.name == "skip" else "Concatenate") for k in kinds)
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(g, hls_model, x), golden) == 0
