"""Lookup-table activations in every backend: a small Keras/QKeras model with an exact QKeras
``quantized_tanh`` table, a Dense with a sigmoid table and a final tanh table, lowered by the
frontend; the golden model (fast path == int64 reference) and the native ap_fixed / int64 C
simulations, Verilator and hls4ml's C simulation (its ``UnaryLUT``) agree on >= 10,000
vectors with corner vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    mismatches,
    native_apfixed_mismatches,
    native_int_mismatches,
    needs,
    verilator_mismatches,
)

N_VECTORS = 10_000
TARGET = Target(project_name="tables")
INPUT = FixedType(12, 5, True, "RND_CONV", "SAT")


def keras_design() -> Graph:
    """x(8) -> quantized_bits(8, 3) -> quantized_tanh(8) -> Dense(6, sigmoid) -> Dense(3) -> tanh."""
    tf = pytest.importorskip("tensorflow", reason="the Keras frontend needs TensorFlow")
    qkeras = pytest.importorskip("qkeras")
    from hwai.frontends.keras import lower_keras

    tf.keras.utils.set_random_seed(4)
    inp = tf.keras.Input((8,), name="x")
    h = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="q0")(inp)
    h = qkeras.QActivation(qkeras.quantized_tanh(8), name="qt")(h)
    h = tf.keras.layers.Dense(6, activation="sigmoid", name="d1")(h)
    h = tf.keras.layers.Dense(3, name="d2")(h)
    out = tf.keras.layers.Activation("tanh", name="act")(h)
    model = tf.keras.Model(inp, out)
    model.get_layer("d1").set_weights([w * 4 for w in model.get_layer("d1").get_weights()])  # reach the tails
    return lower_keras(model, INPUT, table={"bits": 10, "width": 9}).validate()


@pytest.fixture(scope="module")
def design() -> Graph:
    return keras_design()


@pytest.fixture(scope="module")
def vectors(design: Graph) -> np.ndarray:
    return make_vectors(design, N_VECTORS, seed=3)


@pytest.fixture(scope="module")
def golden(design: Graph, vectors: np.ndarray) -> np.ndarray:
    return golden_outputs(design, vectors)


@pytest.mark.unit
def test_design_uses_three_tables(design: Graph, vectors: np.ndarray, golden: np.ndarray) -> None:
    assert [n.op for n in design.nodes].count("table") == 3
    assert (interp.run_reference(design, vectors)[design.outputs[0]].reshape(N_VECTORS, -1) == golden).all()
    # the tables are exercised across their range: the comparisons below can fail
    trace = interp.run(design, vectors, trace=True)
    for node in (n for n in design.nodes if n.op == "table"):
        used = np.unique(trace[node.outputs[0]])
        assert used.size > 30, (node.name, used.size)   # qt: hard tanh of 1/16 steps = 33 codes
    assert len(np.unique(golden, axis=0)) > 1000


@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                           tmp_path: Path) -> None:
    assert native_apfixed_mismatches(design, TARGET, vectors, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_int_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray) -> None:
    assert native_int_mismatches(design, vectors, golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray, tmp_path: Path) -> None:
    assert verilator_mismatches(design, TARGET, vectors, golden, tmp_path) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray, tmp_path: Path) -> None:
    """hls4ml reads hwai's tables through its UnaryLUT layer; table_t is checked after conversion."""
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    hls_model = to_hls4ml(design, tmp_path / "hls", TARGET, vectors=vectors[:200])
    assert type(hls_model.graph["act"]).__name__.endswith("UnaryLUT")
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(design, hls_model, vectors), golden) == 0


# --- softmax: hls4ml's Softmax (stable) reads its own tables, equal to hwai's ------------


@pytest.fixture(scope="module")
def softmax_case() -> tuple[Graph, np.ndarray, np.ndarray]:
    """x(8) -> Dense(5, softmax) lowered with output: softmax (the jet tagger's output layer)."""
    tf = pytest.importorskip("tensorflow", reason="the Keras frontend needs TensorFlow")
    from hwai.frontends.keras import lower_keras

    tf.keras.utils.set_random_seed(5)
    inp = tf.keras.Input((8,), name="x")
    model = tf.keras.Model(inp, tf.keras.layers.Dense(5, activation="softmax", name="out")(inp))
    g = lower_keras(model, INPUT, act_type=FixedType(10, 4, True, "RND_CONV", "SAT"), output="softmax",
                    table={"bits": 8}).validate()
    x = make_vectors(g, N_VECTORS, seed=7)
    return g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_softmax_design_varies(softmax_case) -> None:
    g, x, y = softmax_case
    assert [n.op for n in g.nodes] == ["dense", "quant", "softmax"]
    assert len(np.unique(y, axis=0)) > 1000 and (interp.run_reference(g, x)[g.outputs[0]] == y).all()


@pytest.mark.csim
def test_softmax_native_csims_equal_golden(softmax_case, tmp_path: Path) -> None:
    g, x, y = softmax_case
    from hwai.sim.fast_csim import csim_fast

    assert native_apfixed_mismatches(g, TARGET, x, y, tmp_path) == 0
    assert mismatches(csim_fast(g, x), y) == 0


@pytest.mark.rtl
def test_softmax_verilator_equals_golden(softmax_case, tmp_path: Path) -> None:
    needs("verilator")
    from hwai.codegen.verilog import generate_verilog
    from hwai.sim.rtl import rtl_sim

    g, x, y = softmax_case
    assert mismatches(rtl_sim(g, generate_verilog(g, TARGET), x, workdir=tmp_path), y) == 0


@pytest.mark.csim
def test_softmax_hls4ml_csim_equals_golden(softmax_case, tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    g, x, y = softmax_case
    hls_model = to_hls4ml(g, tmp_path / "hls", TARGET, vectors=x[:200])
    assert type(hls_model.graph[g.nodes[-1].name]).__name__.endswith("Softmax")
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(g, hls_model, x), y) == 0
