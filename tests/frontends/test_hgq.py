"""HGQ proxy models lower exactly: golden model == the proxy's Keras forward pass.

Small HGQ models are built and trained here (a few epochs on generated data), traced and
converted with HGQ's own ``trace_minmax`` / ``to_proxy_model``; the reference proxy in
``../shared`` is checked too. Equality is exact on the dequantized logits, over >= 10,000
vectors that include hwai's corner vectors (inputs far outside the traced ranges, where
the quantizers' overflow modes act).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir.numeric import DEFAULT_TYPE
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType

tf = pytest.importorskip("tensorflow")
HGQ = pytest.importorskip("HGQ")

from hwai.engines.keras.hgq import ebops  # noqa: E402
from hwai.frontends.keras import agreement, check_supported, lower_keras  # noqa: E402
from hwai.sim.vectors import corner_vectors, make_vectors  # noqa: E402

pytestmark = pytest.mark.unit
N_VECTORS = 12000


def _data(n: int = 2000, n_in: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    x = rng.normal(scale=1.5, size=(4, n_in))[y] + rng.normal(size=(n, n_in))
    return x.astype(np.float32), np.eye(4, dtype=np.float32)[y]


def _hgq_model(beta: float, n_in: int = 8) -> object:
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    inp = L.Input((n_in,), name="x")
    h = HGQ.HQuantize(beta=beta, name="inp_q")(inp)
    h = HGQ.HDense(16, activation="relu", beta=beta, name="d1")(h)
    h = HGQ.HDense(8, activation="relu", beta=beta, name="d2")(h)
    h = HGQ.HDense(4, beta=beta, name="d3")(h)
    return tf.keras.Model(inp, L.Activation("softmax", name="softmax")(h))


@pytest.fixture(scope="module")
def trained() -> tuple[object, float, np.ndarray]:
    """An HGQ model after 4 epochs (beta 3e-5: some weights/neurons at 0 bits), traced."""
    x, y = _data()
    model = _hgq_model(3e-5)
    model.compile(tf.keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    model.fit(x, y, epochs=4, batch_size=128, verbose=0, callbacks=[HGQ.ResetMinMax()])
    cost = HGQ.trace_minmax(model, x, verbose=False)
    return model, float(cost), x


def _codes(graph, x: np.ndarray) -> np.ndarray:
    tin = graph.tensor(graph.inputs[0]).type
    return make_vectors(graph, N_VECTORS, 0, tin.from_float(x))


def _exact(proxy, tin: FixedType = DEFAULT_TYPE, x: np.ndarray | None = None):
    graph = lower_keras(proxy, tin)
    codes = _codes(graph, x if x is not None else _data()[0])
    assert len(codes) >= 10000 and len(corner_vectors(graph)) > 0
    agree = agreement(proxy, graph, codes)
    assert agree.float_equal == 1.0 and agree.vector_equal == 1.0, agree.summary()
    return graph


def test_proxy_lowers_exactly_with_per_element_and_per_weight_types(trained) -> None:
    model, _, x = trained
    graph = _exact(HGQ.to_proxy_model(model), x=x)
    assert (graph.nodes[0].name, graph.nodes[0].op) == ("input_quant", "quant")
    assert any(n.op == "quant" and n.attrs.per_element for n in graph.nodes)   # per-neuron widths
    dense = [n for n in graph.nodes if n.op == "dense"]
    assert len(dense) == 3 and all(n.attrs.per_weight for n in dense)
    widths = np.concatenate([n.attrs.weight_widths.ravel() for n in dense])
    assert (widths == 0).any() and widths.max() > 1   # HGQ pruned some weights, kept others wide
    assert graph.meta["output_activation"] == "softmax" and graph.meta["frontend"] == "hgq"


def test_saturating_proxy_lowers_exactly(trained) -> None:
    model, _, x = trained
    proxy = HGQ.to_proxy_model(model, aggressive=False)   # SAT instead of WRAP everywhere
    assert {l.SAT for l in proxy.layers if type(l).__name__ == "FixedPointQuantizer"} == {"SAT"}
    _exact(proxy, x=x)


@pytest.mark.parametrize("rnd, sat", [(r, "SAT") for r in ROUNDING_MODES] + [("RND", o) for o in OVERFLOW_MODES])
def test_every_ap_fixed_mode_of_fixed_point_quantizer_is_exact(trained, rnd: str, sat: str) -> None:
    """HGQ's gfixed_quantizer modes are ap_fixed's: each one lowers exactly (corner vectors
    overflow the traced input ranges, so the overflow mode is exercised)."""
    model, _, x = trained
    proxy = HGQ.to_proxy_model(model)
    for layer in proxy.layers:
        if type(layer).__name__ == "FixedPointQuantizer":
            layer.RND, layer.SAT = rnd, sat
    graph = _exact(proxy, FixedType(10, 5, True, "RND_CONV", "SAT"), x=x)
    assert graph.tensor("input_quant").type.rounding == rnd and graph.tensor("input_quant").type.overflow == sat


def test_ebops_of_the_proxy_equal_hgqs_and_hwais(trained) -> None:
    from hwai.estimate.rules import ebops as ir_ebops

    model, cost, _ = trained
    proxy = HGQ.to_proxy_model(model)
    assert ebops(proxy) == cost > 0
    assert ir_ebops(lower_keras(proxy, DEFAULT_TYPE)) == cost


def test_wrap_sm_is_rejected_naming_the_layer(trained) -> None:
    proxy = HGQ.to_proxy_model(trained[0])
    proxy.get_layer("d2_quantizer").SAT = "WRAP_SM"
    with pytest.raises(UnsupportedLayerError, match=r"layer 'd2_quantizer' \(FixedPointQuantizer\) .*"
                                                    r"overflow mode 'WRAP_SM' is not ap_fixed's"):
        check_supported(proxy)


def test_hgq_training_layers_are_rejected_naming_the_layer(trained) -> None:
    with pytest.raises(UnsupportedLayerError, match=r"layer 'inp_q' \(HQuantize\) .*HGQ training layer.*to_proxy_model"):
        check_supported(trained[0])


def test_hgq_training_model_file_fails_before_training(tmp_path: Path, trained, capsys) -> None:
    """A saved HGQ training model given as model.path: one line, exit 2, nothing written."""
    import yaml

    from hwai.cli import main

    trained[0].save(tmp_path / "m.h5", save_format="h5")
    x, y = _data(200)
    np.savez(tmp_path / "d.npz", X=x, y=np.argmax(y, axis=1))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"path": "m.h5"}, "data": {"source": "d.npz"},
                                      "steps": [{"train": {"epochs": 1}}, "lower"]}))
    assert main(["compress", str(recipe), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert not (tmp_path / "run").exists() and "\n" not in err and "Traceback" not in err
    assert "layer 'inp_q' (HQuantize)" in err


def test_reference_proxy_model_lowers_exactly(shared_dir: Path, jets_npz: Path) -> None:
    from hwai.engines.keras.io import load_model_file

    path = shared_dir / "reference-models" / "keras" / "hgq_jet_classifier.h5"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    proxy = load_model_file(path)
    with np.load(jets_npz) as z:
        x = z["X"][:5000].astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    for tin in (DEFAULT_TYPE, FixedType(12, 5, True, "TRN", "WRAP")):
        graph = _exact(proxy, tin, x=x)
    assert [n.name for n in graph.nodes][:2] == ["input_quant", "dense_1"]
    assert ebops(proxy) == 1736.0


def test_truncating_input_type_makes_firmware_equal_keras_on_real_rows(shared_dir: Path, jets_npz: Path) -> None:
    """Real (float) rows: with a TRN input type the firmware input cast cannot round a value
    that HGQ's truncating input quantizer would have cut, so every logit is identical."""
    from hwai.engines.keras import KerasEngine
    from hwai.engines.keras.io import load_model_file
    from hwai.recipe.steps import golden_logits

    path = shared_dir / "reference-models" / "keras" / "hgq_jet_classifier.h5"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    proxy, engine = load_model_file(path), KerasEngine()
    with np.load(jets_npz) as z:
        x = z["X"][:10000].astype(np.float64)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    graph = engine.lower(proxy, FixedType(16, 6, True, "TRN", "SAT"), {})
    np.testing.assert_array_equal(golden_logits(graph, x), engine.logits(proxy, x))


def test_proxy_model_file_imports_without_training_and_refuses_training(tmp_path: Path, trained, capsys) -> None:
    """model.path = a saved proxy: lower/estimate run as is; a train step is one line, exit 2."""
    import json

    import yaml

    from hwai.cli import main

    HGQ.to_proxy_model(trained[0]).save(tmp_path / "proxy.h5", save_format="h5")
    x, y = _data(300)
    np.savez(tmp_path / "d.npz", X=x, y=np.argmax(y, axis=1))

    def compress(steps: list, out: str) -> int:
        recipe = tmp_path / f"{out}.yaml"
        recipe.write_text(yaml.safe_dump({"name": out, "model": {"path": "proxy.h5"}, "data": {"source": "d.npz"},
                                          "steps": steps}))
        return main(["compress", str(recipe), "--out", str(tmp_path / out)])

    assert compress(["lower", "estimate", "evaluate"], "imported") == 0
    report = json.loads((tmp_path / "imported" / "report.json").read_text())
    assert report["argmax_agreement_framework_vs_firmware"] > 0.95
    capsys.readouterr()
    assert compress([{"train": {"epochs": 1}}, "lower"], "trained") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    err = err.strip().splitlines()[-1]
    assert err.startswith("hwai: ") and "train: model" in err and "is an HGQ proxy model" in err and "cannot be trained" in err


@pytest.mark.slow
def test_unary_lut_activation_is_rejected_naming_the_layer() -> None:
    """HGQ's lookup-table activations (UnaryLUT) have no exact lowering in hwai yet."""
    L = tf.keras.layers
    inp = L.Input((4,))
    h = HGQ.HDense(4, name="d")(HGQ.HQuantize(name="q")(inp))
    model = tf.keras.Model(inp, HGQ.layers.HActivation("tanh", name="act")(h))
    HGQ.trace_minmax(model, np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32), verbose=False)
    proxy = HGQ.to_proxy_model(model, unary_lut_max_table_size=1024)
    lut = next(l.name for l in proxy.layers if type(l).__name__ == "UnaryLUT")
    with pytest.raises(UnsupportedLayerError, match=rf"layer '{lut}' \(UnaryLUT\) is not supported in an HGQ proxy "
                                                    r"model: no exact fixed-point lowering"):
        check_supported(proxy)


def test_init_recognizes_a_proxy_and_truncates_the_input(tmp_path: Path, trained) -> None:
    from hwai.cli import main

    HGQ.to_proxy_model(trained[0]).save(tmp_path / "proxy.h5", save_format="h5")
    x, y = _data(100)
    np.savez(tmp_path / "d.npz", X=x, y=np.argmax(y, axis=1))
    out = tmp_path / "r.yaml"
    assert main(["init", "--model", str(tmp_path / "proxy.h5"), "--data", str(tmp_path / "d.npz"), "-o", str(out)]) == 0
    text = out.read_text()
    assert "# an HGQ proxy model" in text and "lower: {input: {width: 16, integer: 6, rounding: TRN}}" in text
