"""Issue 10 part B: model problems are one line (exit 2) before any training, named by the user's layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwai.errors import ModelFileError, UnsupportedLayerError

tf = pytest.importorskip("tensorflow")
pytest.importorskip("qkeras")
L = tf.keras.layers


def _data(tmp_path: Path, n_features: int = 4) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, X=rng.normal(size=(200, n_features)).astype(np.float32), y=np.arange(200) % 5)
    return path


def _saved(tmp_path: Path, model) -> Path:
    path = tmp_path / "m.h5"
    model.save(path, save_format="h5")
    return path


def _softsign_model(n_in: int = 4):
    return tf.keras.Sequential([L.Input((n_in,)), L.Dense(8, activation="softsign", name="my_hidden"),
                                L.Dense(5, activation="softmax", name="my_out")], name="user_mlp")


def _compress(tmp_path: Path, model_path: Path, data: Path, capsys) -> tuple[int, str]:
    from hwai.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"path": model_path.name},
                                      "data": {"source": data.name}, "steps": [{"train": {"epochs": 1}}, "lower"]}))
    out = tmp_path / "run"
    code = main(["compress", str(recipe), "--out", str(out)])
    assert not out.exists()   # refused before anything was written or trained
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: ") and "\n" not in err and "Traceback" not in err
    return code, err


def test_unsupported_activation_named_by_the_users_layer_before_training(tmp_path: Path, capsys) -> None:
    code, err = _compress(tmp_path, _saved(tmp_path, _softsign_model()), _data(tmp_path), capsys)
    assert code == 2
    assert "layer 'my_hidden' (Dense) is not supported: activation 'softsign'" in err and "_act" not in err


def test_unsupported_layer_class_named(tmp_path: Path) -> None:
    from hwai.frontends.keras import check_supported

    model = tf.keras.Sequential([L.Input((4,)), L.Dense(8, name="d1"), L.LayerNormalization(name="norm"),
                                 L.Dense(5, name="d2")])
    with pytest.raises(UnsupportedLayerError, match="layer 'norm' \\(LayerNormalization\\) is not supported"):
        check_supported(model)


def test_two_input_model_against_narrower_data_one_line(tmp_path: Path, capsys) -> None:
    # several inputs are supported (rows hold them side by side); a width mismatch names both
    a, b = L.Input((2,), name="tracks"), L.Input((2,), name="towers")
    x = L.Concatenate(name="join")([a, b])
    model = tf.keras.Model([a, b], L.Dense(5, name="out")(x), name="two_in")
    code, err = _compress(tmp_path, _saved(tmp_path, model), _data(tmp_path, n_features=3), capsys)
    assert code == 2
    assert "model 'two_in' takes inputs tracks (2,), towers (2,) (4 features) but the data has 3 features" in err


def test_feature_count_against_the_model_names_both_shapes(tmp_path: Path, capsys) -> None:
    code, err = _compress(tmp_path, _saved(tmp_path, tf.keras.Sequential(
        [L.Input((16,)), L.Dense(5, name="out")], name="ref16")), _data(tmp_path, 10), capsys)
    assert code == 2
    assert "model 'ref16' takes input shape (16,) (16 features) but the data has 10 features" in err


@pytest.mark.parametrize("kind", ["truncated", "text"])
def test_truncated_or_foreign_model_file(tmp_path: Path, kind: str, capsys) -> None:
    from hwai.engines.keras.io import load_model_file

    path = _saved(tmp_path, _softsign_model())
    path.write_bytes(path.read_bytes()[:2000] if kind == "truncated" else b"hello, not a model")
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    assert info.value.exit_code == 2 and "m.h5" in str(info.value) and "\n" not in str(info.value)
    code, err = _compress(tmp_path, path, _data(tmp_path), capsys)
    assert code == 2 and "cannot read model file" in err


def test_missing_weights_file(tmp_path: Path) -> None:
    from hwai.engines.keras.io import load_model_file

    arch = tmp_path / "m.json"
    arch.write_text(_softsign_model().to_json())
    with pytest.raises(ModelFileError, match="model file .*nope_weights.h5 not found"):
        load_model_file(arch, tmp_path / "nope_weights.h5")




# --- the torch/Brevitas side gives the same kind of early, one-line, exit-2 errors ----------

def _torch_build(tmp_path: Path, cfg: dict, n_features: int = 4):
    from hwai.data import load_dataset
    from hwai.engines.torch import TorchEngine

    data = load_dataset({"source": str(_data(tmp_path, n_features))}, seed=0)
    return TorchEngine().build({"framework": "torch", **cfg}, data, 0)


def test_torch_feature_count_and_unsupported_layer(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from hwai.errors import DataError

    path = tmp_path / "m.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(16, 5)), path)
    with pytest.raises(DataError, match=r"takes input shape \(16,\) \(16 features\) but the data has 10 features"):
        _torch_build(tmp_path, {"path": str(path), "trust_pickle": True}, n_features=10)
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5)), path)
    with pytest.raises(UnsupportedLayerError, match="layer '1' of type Tanh is not supported"):
        _torch_build(tmp_path, {"path": str(path), "trust_pickle": True})


def test_torch_truncated_file(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    path = tmp_path / "m.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 5)).state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelFileError) as info:
        _torch_build(tmp_path, {"path": str(path)})
    assert info.value.exit_code == 2 and "cannot read torch file" in str(info.value)
