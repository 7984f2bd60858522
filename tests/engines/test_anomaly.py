"""The anomaly path: the Keras encoder + SumSquares lowers to the IR and equals the Keras forward
pass; recipes/jet_anomaly_dense.yaml runs end to end on a tiny generated particle file; bad
anomaly settings are one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.data.image_helpers import prong_npz

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "recipes" / "jet_anomaly_dense.yaml"
TINY = ["model.hidden=[8]", "model.latent=4", "data.image.size=4", "steps.train.epochs=3",
        "steps.prune.epochs=2", "steps.quantize.epochs=2"]


def _compress(tmp_path: Path, recipe: Path, sets: list[str], *extra: str) -> tuple[int, Path]:
    from hwai.cli import main

    run = tmp_path / "run"
    args = ["compress", str(recipe), "--data", str(prong_npz(tmp_path / "p.npz", n=600)), "--out", str(run), *extra]
    for s in sets:
        args += ["--set", s]
    return main(args), run


@pytest.mark.unit
def test_encoder_score_lowers_and_equals_keras_forward() -> None:
    pytest.importorskip("tensorflow")
    from hwai.engines.keras.anomaly import build_dense_encoder
    from hwai.frontends.keras import lower_keras
    from hwai.ir.interp import run_float
    from hwai.ir.types import FixedType
    from hwai.sim.vectors import make_vectors

    model = build_dense_encoder((6,), [8], 4, seed=0)
    for layer in model.layers:   # weights on a 2^-4 grid: every IR cast below is exact
        if layer.weights:
            layer.set_weights([np.round(w * 16) / 16 for w in layer.get_weights()])
    wide = FixedType(28, 14)     # frac 14 >= 4 + 4 + 4: activations are never rounded
    graph = lower_keras(model, FixedType(8, 3), weight_type=FixedType(8, 3), act_type=wide)
    assert [n.op for n in graph.nodes][-1] == "sum_squares"
    x = graph.tensor(graph.inputs[0]).type.to_float(make_vectors(graph, 10_000, seed=1))
    keras = model.predict(x.astype(np.float32), batch_size=4096, verbose=0).astype(np.float64)
    np.testing.assert_allclose(run_float(graph, x), keras, rtol=1e-6, atol=1e-6)   # float32 Keras arithmetic


@pytest.mark.csim
def test_dense_anomaly_recipe_end_to_end_on_tiny_images(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    rc, run = _compress(tmp_path, DENSE, TINY + ["steps.csim.vectors=10000"], "--to", "csim")
    assert rc == 0
    rep = json.loads((run / "report.json").read_text())
    fw = rep["firmware_metrics"]
    assert set(fw["efficiency"]) == {"W", "Z", "t"} and fw["rate"] == 0.01 and fw["background"] == ["g", "q"]
    assert all(0.0 <= fw["auc"][s] <= 1.0 for s in ("W", "Z", "t"))
    assert rep["csim"]["per_backend"] == {"hls4ml": 0, "native": 0} and rep["csim"]["vectors"] == 10_000
    # the recipe's log-scaled images reach the handoff: the firmware's input stage must compute them
    assert rep["preprocessing"]["image"]["scale"] == "log" and "log(1 + v / 0.01)" in rep["preprocessing"]["formula"]
    md = (run / "report.md").read_text()
    assert "t: efficiency at 1.00% g/q rate (framework / firmware)" in md and "firmware accuracy" not in md
    assert "Anomaly score ROC" in (run / "report.html").read_text()


@pytest.mark.unit
def test_anomaly_refuses_classifier_training_steps(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(DENSE.read_text().replace("  - evaluate\n", "  - evaluate\n  - distill\n", 1))
    rc, _ = _compress(tmp_path, recipe, [])
    assert rc == 2
    err = capsys.readouterr().err
    assert "steps[4].distill: not supported with anomaly: yet" in err and "Traceback" not in err


@pytest.mark.unit
def test_anomaly_refuses_symbolic() -> None:
    from hwai.errors import RecipeError
    from hwai.recipe.schema import load_yaml, recipe_from_dict

    doc = load_yaml(DENSE.read_text())
    doc["steps"] = [doc["steps"][0], "symbolic"]
    with pytest.raises(RecipeError, match=r"steps\[1\]\.symbolic: not supported with anomaly: yet"):
        recipe_from_dict(doc, DENSE)


@pytest.mark.unit
def test_anomaly_signal_cannot_be_background() -> None:
    from hwai.errors import RecipeError
    from hwai.recipe.schema import load_yaml, recipe_from_dict

    doc = load_yaml(DENSE.read_text())
    doc["anomaly"]["signals"] = ["t", "q"]
    with pytest.raises(RecipeError, match=r"anomaly\.signals: 'q' is also a background class"):
        recipe_from_dict(doc, DENSE)


@pytest.mark.unit
def test_anomaly_refuses_hgq_quantization(tmp_path: Path, capsys) -> None:
    rc, _ = _compress(tmp_path, DENSE, ["steps.quantize.method=hgq"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "steps[2].quantize.method: hgq is not supported with anomaly: yet; use method: uniform" in err
    assert "Traceback" not in err


@pytest.mark.unit
def test_fine_tuning_gets_the_train_steps_kl_weight() -> None:
    from hwai.recipe.schema import anomaly_training, load_yaml, recipe_from_dict

    doc = load_yaml(DENSE.read_text().replace("kl_weight: 0.0", "kl_weight: 0.25"))
    recipe = recipe_from_dict(doc, DENSE)
    assert anomaly_training(recipe) == {**dict(recipe.anomaly), "kl_weight": 0.25}


@pytest.mark.unit
def test_background_data_keeps_background_rows_for_training_only() -> None:
    from hwai.data.dataset import Dataset
    from hwai.engines.keras.anomaly import background_data

    y = np.arange(10) % 5
    x = np.arange(10, dtype=np.float32)[:, None]
    data = Dataset(x, y, x, y, x, y, ("g", "q", "W", "Z", "t"), ("a",), np.zeros(1), np.ones(1))
    bg = background_data(data, ["g", "q"])
    assert bg.y_train.tolist() == [0, 1, 0, 1] and bg.x_val[:, 0].tolist() == [0, 1, 5, 6]
    assert bg.y_test.tolist() == y.tolist()   # the metrics still see the signals


@pytest.mark.csim
def test_prune_and_quantize_keep_the_encoder_exact(tmp_path: Path) -> None:
    """prune + quantize on the dense recipe (tiny): the QKeras encoder, latent quantizer and score
    equal the golden model on every vector, the pruned layer keeps its zeros, the latent layer
    (re-folded after each step) stays dense, and the latent is whitened on the background."""
    pytest.importorskip("tensorflow")
    from hwai.engines.keras import KerasEngine
    from hwai.frontends.keras import agreement
    from hwai.ir.graph import Graph
    from hwai.sim.vectors import make_vectors

    # 16 hidden units at half sparsity: the recipe's 80 % of 8 units leaves latent directions dead
    rc, run = _compress(tmp_path, DENSE, TINY + ["model.hidden=[16]", "steps.prune.sparsity=0.5"], "--to", "lower")
    assert rc == 0
    model = KerasEngine().restore(run / "steps" / "03_quantize" / "checkpoint")
    assert [type(l).__name__ for l in model.layers[-2:]] == ["QActivation", "SumSquares"]
    graph = Graph.load(run / "steps" / "05_lower" / "checkpoint")
    assert [n.op for n in graph.nodes][-2:] == ["quant", "sum_squares"]
    a = agreement(model, graph, make_vectors(graph, 10_000, seed=1))
    assert a.vector_equal == 1.0, a.summary()
    rep = json.loads((run / "steps" / "03_quantize" / "report.json").read_text())
    assert rep["sparsity"]["fc1"] >= 0.49 and rep["sparsity"]["mu"] < 0.25
    _assert_whitened(model, run)


def _assert_whitened(model, run: Path) -> None:
    """The score's input has the background's mean ~0 and covariance ~1 (Mahalanobis folding)."""
    import tensorflow as tf

    from hwai import data as datasets
    from hwai.engines.keras.anomaly import background_rows
    from hwai.recipe.schema import load_recipe

    recipe = load_recipe(run / "recipe.yaml")
    data = datasets.load_dataset(dict(recipe.data), recipe.seed, override_path=str(next(run.parent.glob("*.npz"))))
    z = tf.keras.Model(model.input, model.layers[-1].input).predict(background_rows(data, ["g", "q"], "train"), verbose=0)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(z.shape[1]), atol=0.15)


@pytest.mark.unit
def test_unknown_background_class_is_one_line(tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorflow")
    rc, _ = _compress(tmp_path, DENSE, TINY + ["anomaly.background=[g, b]"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "anomaly.background: class 'b' is not in the data (classes: g, q, W, Z, t)" in err
    assert "Traceback" not in err


@pytest.mark.unit
def test_latent_is_standardised_on_the_background() -> None:
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from hwai.engines.keras.anomaly import build_dense_encoder, standardize_latent

    model = build_dense_encoder((6,), [8], 3, seed=0)
    x = np.random.default_rng(0).normal(size=(500, 6)).astype(np.float32) * 0.01   # tiny latent spread
    standardize_latent(model, x)
    mu = tf.keras.Model(model.input, model.get_layer("mu").output).predict(x, verbose=0)
    np.testing.assert_allclose(mu.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(mu.std(axis=0), 1.0, rtol=1e-3)


@pytest.mark.unit
def test_mahalanobis_whitens_the_background_latent() -> None:
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from hwai.engines.keras.anomaly import build_dense_encoder, standardize_latent

    model = build_dense_encoder((6,), [8], 3, seed=0)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 6))).astype(np.float32)   # correlated latents
    mu_of = tf.keras.Model(model.input, model.get_layer("mu").output)
    raw = mu_of.predict(x, verbose=0).astype(np.float64)
    d = raw - raw.mean(axis=0)
    want = np.einsum("ni,ij,nj->n", d, np.linalg.inv(np.cov(raw, rowvar=False)), d)   # Mahalanobis²
    standardize_latent(model, x, whiten=True)
    z = mu_of.predict(x, verbose=0)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(3), atol=2e-3)
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], want, rtol=2e-3, atol=2e-3)


@pytest.mark.unit
def test_quantizing_an_encoder_twice_replaces_the_score_input_quantizer() -> None:
    """A second quantize step (e.g. other bits) rebuilds the score's input quantizer instead of
    adding a second layer of the same name, and the new spec is the one that holds."""
    pytest.importorskip("qkeras")
    from hwai.engines.keras.anomaly import build_dense_encoder
    from hwai.engines.keras.quantize import build_qmodel

    model = build_dense_encoder((6,), [8], 4, seed=0)
    once = build_qmodel(model, {"bits": 6, "activation": {"bits": 8, "integer": 3}})
    twice = build_qmodel(once, {"bits": 6, "activation": {"bits": 10, "integer": 4}})
    names = [l.name for l in twice.layers]
    score_in = [n for n in names if n.endswith("_in")]
    assert len(score_in) == 1 and len(names) == len(set(names))
    assert twice.get_layer(score_in[0]).quantizer.bits == 10
