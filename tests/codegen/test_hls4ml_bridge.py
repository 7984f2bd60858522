"""hls4ml bridge: every precision from the IR, and hls4ml's C simulation == golden exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hwai.ir.graph import Node, Tensor, chain
from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.target import Target

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TIN = FixedType(8, 3, True, "RND_CONV", "SAT")
W6 = FixedType(6, 1)


def _dense(name: str, src: str, w: np.ndarray, b: np.ndarray, accum: FixedType | None,
           out: FixedType | None) -> tuple[Node, Tensor]:
    attrs = {"weight": w, "weight_type": W6, "bias": b, "bias_type": W6, "accum_type": accum}
    return Node(name, "dense", (src,), (name,), attrs), Tensor(name, (w.shape[1],), out)


def _elem(name: str, op: str, src: str, n: int, t: FixedType | None) -> tuple[Node, Tensor]:
    return Node(name, op, (src,), (name,)), Tensor(name, (n,), t)


def narrow_graph(seed: int = 0):
    """8-16-8-4 with a wrapping accumulator, a rounding+saturating one and a standalone quant."""
    rng = np.random.default_rng(seed)
    w = [rng.integers(-32, 32, s) for s in ((8, 16), (16, 8), (8, 4))]
    b = [rng.integers(-32, 32, s) for s in (16, 8, 4)]
    wrap = FixedType(9, 3)                                # product frac 10 -> 6 frac bits kept
    sat = FixedType(10, 5, True, "RND", "SAT")            # rounds every product, saturates
    layers = [
        _dense("fc1", "x", w[0], b[0], wrap, wrap.exact()),
        _elem("relu1", "relu", "fc1", 16, FixedType(6, 2, False, "RND_CONV", "SAT")),
        _elem("q1", "quant", "relu1", 16, FixedType(5, 2, True, "RND", "SAT_SYM")),
        _dense("fc2", "q1", w[1], b[1], sat, FixedType(8, 4, True, "RND_CONV", "SAT")),
        _elem("relu2", "relu", "fc2", 8, None),
        _dense("fc3", "relu2", w[2], b[2], None, None),
    ]
    return infer_precision(chain("narrow", Tensor("x", (8,), TIN), layers))


def test_plan_fuses_only_exact_quants() -> None:
    from hwai.codegen.hls4ml_bridge import hls_config, plan_layers

    g = narrow_graph()
    plan = plan_layers(g)
    # relu1's own cast is lossy, so q1 must stay a separate (linear) layer
    assert [(l.name, l.kind, l.tensor) for l in plan] == [
        ("fc1", "dense", "fc1"), ("relu1", "relu", "relu1"), ("q1", "linear", "q1"),
        ("fc2", "dense", "fc2"), ("relu2", "relu", "relu2"), ("fc3", "dense", "fc3")]
    cfg = hls_config(g, plan)["LayerName"]
    assert cfg["fc2"]["Precision"]["accum"] == "ap_fixed<10,5,AP_RND,AP_SAT>"
    assert cfg["q1"]["Precision"]["result"] == "ap_fixed<5,2,AP_RND,AP_SAT_SYM>"
    assert cfg["x"]["Precision"]["result"] == "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"


def test_plan_fuses_dense_quant() -> None:
    from hwai.codegen.hls4ml_bridge import plan_layers

    q = FixedType(8, 4, True, "RND_CONV", "SAT")
    w, b = np.ones((8, 4), dtype=np.int64), np.zeros(4, dtype=np.int64)
    g = infer_precision(chain("f", Tensor("x", (8,), TIN), [
        _dense("fc", "x", w, b, None, None), _elem("q", "quant", "fc", 4, q)]))
    plan = plan_layers(g)
    assert [(l.name, l.tensor, l.result) for l in plan] == [("fc", "q", q)]


def test_narrow_graph_really_wraps_and_saturates() -> None:
    """Guard for the csim test below: the narrow accumulators change results."""
    from hwai.sim.vectors import make_vectors

    g = narrow_graph()
    wide = infer_precision(g.with_node(g.node("fc1").with_attrs(accum_type=None)).retyped("fc1", None))
    x = make_vectors(g, 2000, seed=1)
    a, b = run(g, x)["fc3"], run(wide, x)["fc3"]
    assert np.mean(np.any(a != b, axis=1)) > 0.1


def _check_csim(g, tmp_path: Path, n: int, real=None) -> None:
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.compare import compare
    from hwai.sim.hls4ml_csim import csim_hls4ml
    from hwai.sim.vectors import corner_vectors, make_vectors

    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    x = make_vectors(g, n, seed=7, real_codes=real)
    assert len(corner_vectors(g)) > 0 and np.array_equal(x[:2], corner_vectors(g)[:2])
    hls_model = to_hls4ml(g, tmp_path / "hls", Target(), vectors=x[:500])
    assert (tmp_path / "hls" / "tb_data" / "tb_output_predictions.dat").is_file()
    compile_hls4ml(hls_model)
    rep = compare(g, x, csim_hls4ml(g, hls_model, x))
    assert rep.n_vectors == n
    assert rep.n_mismatches == 0, rep.summary


@pytest.mark.csim
def test_csim_qkeras_saturating_activations(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from qkeras import QActivation, QDense

    from hwai.frontends.keras import lower_keras

    wq = "quantized_bits(6,0,alpha=1)"
    model = tf.keras.Sequential([
        tf.keras.layers.Input((8,), name="x"),
        QDense(16, kernel_quantizer=wq, bias_quantizer=wq, name="fc1", activation="quantized_relu(4,1)"),
        QDense(8, kernel_quantizer=wq, bias_quantizer=wq, name="fc2"),
        QActivation("quantized_bits(6,1,alpha=1)", name="q2"),   # clips: SAT, fused into fc2
        QDense(4, kernel_quantizer=wq, bias_quantizer=wq, name="fc3"),
    ])
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in model.get_weights()])
    _check_csim(lower_keras(model, TIN), tmp_path, 10000)


@pytest.mark.csim
def test_csim_wrapping_accumulators(tmp_path: Path) -> None:
    _check_csim(narrow_graph(), tmp_path, 10000)


@pytest.mark.csim
@pytest.mark.slow
def test_csim_reference_qkeras_jet_model(tmp_path: Path, qkeras_reference, openml_rows) -> None:
    from hwai.frontends.keras import lower_keras

    tin = FixedType(16, 6, True, "RND_CONV", "SAT")
    real = tin.from_float(openml_rows[0])
    model = qkeras_reference
    _check_csim(lower_keras(model, tin, name="jet"), tmp_path, 20000, real=real)
