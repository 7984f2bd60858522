"""Keras functional API: models with branches, several inputs and outputs lower to IR graphs;
merges hwai cannot compute exactly are refused in one line (exit 2) before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType

tf = pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")
L = tf.keras.layers
T = FixedType(10, 4, True, "RND_CONV", "SAT")


def _two_inputs(merge) -> tf.keras.Model:
    a, b = L.Input((6,), name="a"), L.Input((6,), name="b")
    h = merge([L.Dense(4, name="da")(a), L.Dense(4, name="db")(b)])
    return tf.keras.Model([a, b], L.Dense(3, name="out")(h), name="two")


@pytest.mark.unit
@pytest.mark.parametrize("cls", ["Multiply", "Dot", "Subtract", "Maximum"])
def test_unsupported_merge_is_refused_in_one_line(cls: str) -> None:
    from hwai.frontends.keras import check_supported

    merge = getattr(L, cls)(axes=1, name="m") if cls == "Dot" else getattr(L, cls)(name="m")
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(_two_inputs(merge))
    msg = str(err.value)
    assert f"layer 'm' ({cls}) is not supported: merge layers supported: Add, Concatenate" in msg
    assert "\n" not in msg and err.value.exit_code == 2


@pytest.mark.unit
def test_a_layer_called_twice_is_refused() -> None:
    from hwai.frontends.keras import check_supported

    a, b = L.Input((6,), name="a"), L.Input((6,), name="b")
    shared = L.Dense(4, name="shared")
    model = tf.keras.Model([a, b], L.Add(name="s")([shared(a), shared(b)]))
    with pytest.raises(UnsupportedLayerError, match="layer 'shared' .*called more than once"):
        check_supported(model)


@pytest.mark.unit
def test_softmax_inside_a_branch_is_refused() -> None:
    from hwai.frontends.keras import check_supported

    x = L.Input((6,), name="x")
    h = L.Dense(4, activation="softmax", name="soft")(x)
    model = tf.keras.Model(x, L.Add(name="s")([h, L.Dense(4, name="d")(x)]))
    with pytest.raises(UnsupportedLayerError, match="layer 'soft' .*softmax is supported only on a model output"):
        check_supported(model)


@pytest.mark.unit
def test_float_branches_fork_and_join() -> None:
    """A fork (x read by two Dense), a float Add, a Concatenate on the last axis and two
    outputs, one through a final softmax: the graph follows the Keras topology."""
    from hwai.frontends.keras import lower_keras
    from hwai.ir import interp

    tf.keras.utils.set_random_seed(0)
    x = L.Input((6,), name="x")
    left, right = L.Dense(4, activation="relu", name="left")(x), L.Dense(4, name="right")(x)
    s = L.Add(name="sum")([left, right])
    c = L.Concatenate(name="cat")([s, x])
    y = L.Dense(3, activation="softmax", name="y")(c)
    z = L.Dense(2, name="z")(s)
    g = lower_keras(tf.keras.Model(x, [y, z]), T)
    assert g.inputs == ("x",) and len(g.outputs) == 2
    assert g.node("sum").inputs == (g.meta["keras_outputs"]["left"], g.meta["keras_outputs"]["right"])
    assert g.node("cat").inputs == ("sum", "x") and g.tensor("cat").shape == (10,)
    assert g.meta["output_activations"] == ["softmax", "linear"]
    codes = np.random.default_rng(0).integers(T.qmin, T.qmax + 1, (50, 6))
    out = interp.run(g, codes)
    assert out[g.outputs[0]].shape == (50, 3) and out[g.outputs[1]].shape == (50, 2)


@pytest.mark.unit
def test_each_input_may_have_its_own_type() -> None:
    from hwai.frontends.keras import lower_keras

    model = _two_inputs(L.Add(name="m"))
    t_b = FixedType(6, 2, True, "RND_CONV", "SAT")
    g = lower_keras(model, {"a": T, "b": t_b})
    assert g.tensor("a").type == T and g.tensor("b").type == t_b
    with pytest.raises(UnsupportedLayerError, match="model input 'b' has no input type"):
        lower_keras(model, {"a": T})


@pytest.mark.unit
def test_sequential_models_still_lower_as_chains() -> None:
    from hwai.frontends import keras_graph

    model = tf.keras.Sequential([L.Input((4,)), L.Dense(3, name="d")])
    assert not keras_graph.is_graph(model)
    assert keras_graph.is_graph(_two_inputs(L.Add(name="m")))


def test_unsupported_merge_refused_by_compress_before_training(tmp_path: Path, capsys) -> None:
    from hwai.cli import main

    model = _two_inputs(L.Multiply(name="product"))
    model.save(tmp_path / "m.h5", save_format="h5")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(100, 6)).astype(np.float32), y=np.arange(100) % 3)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"path": "m.h5"}, "data": {"source": "d.npz"},
                                      "steps": [{"train": {"epochs": 1}}, "lower"]}))
    code = main(["compress", str(recipe), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert "layer 'product' (Multiply) is not supported: merge layers supported: Add, Concatenate" in err
    assert not (tmp_path / "run").exists()
