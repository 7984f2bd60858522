"""Reading and writing Keras/QKeras models in the formats found in the field.

Supported: full-model ``.h5``; ``.json`` architecture plus ``*_weights.h5`` (the hls4ml
example-models layout); ``.keras`` zips written by Keras 2.13+ *or* by Keras 3 (QKeras v3
builds). TF 2.14 ships Keras 2, whose deserializer rejects Keras-3 configs
(``batch_shape``, ``DTypePolicy`` dicts), so those are translated to Keras 2 form here and
the weights are read from ``model.weights.h5`` directly.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from hwai.errors import HwaiError, ModelFileError, UnsupportedLayerError

CHECKPOINT = "model.h5"


def custom_objects() -> dict[str, Any]:
    """QKeras layers/quantizers (and HGQ proxy layers when HGQ is installed) by name."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    try:  # HGQ's proxy models (FixedPointQuantizer) are optional: HGQ==0.2.6 may be absent.
        from HGQ.proxy import FixedPointQuantizer  # type: ignore[import-not-found]

        objects["FixedPointQuantizer"] = FixedPointQuantizer
    except ImportError:
        pass
    from hwai.engines.keras.anomaly import SCORE_LAYER, score_class

    objects[SCORE_LAYER] = score_class()   # the anomaly score layer of arch dense/conv2d_encoder
    return objects


def load_model_file(path: str | Path, weights: str | Path | None = None) -> Any:
    """Load a Keras/QKeras model from ``path`` (+ ``weights`` for a JSON architecture)."""
    path = Path(path).expanduser()
    for file in (path, weights):
        if file is not None and not Path(file).expanduser().is_file():
            raise ModelFileError(f"model file {file} not found; check model.path / model.weights in the recipe")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _load_json(path, Path(weights) if weights else _weights_beside(path))
        if suffix == ".keras":
            return _load_keras_zip(path)
        if suffix in (".h5", ".hdf5"):
            return _load_h5(path, weights)
    except ValueError as err:
        _raise_unknown_layer(err, path)
        raise ModelFileError(f"cannot load Keras model {path}: {err}".splitlines()[0]) from None
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        # h5py/zipfile on a truncated or foreign file: a user's file problem, not a bug
        raise ModelFileError(f"cannot read model file {path} (or its weights): {type(err).__name__}: "
                             f"{err}".splitlines()[0] + "; is it truncated or another format?") from None
    raise ModelFileError(f"model file {path} has unsupported type '{suffix}'; "
                         "use .h5, .keras or .json + _weights.h5")


def _raise_unknown_layer(err: ValueError, path: Path) -> None:
    match = re.search(r"Unknown (layer|object|activation)[^']*'([^']+)'", str(err))
    if match:
        hint = " (an HGQ proxy model: pip install HGQ==0.2.6)" if match.group(2) == "FixedPointQuantizer" else ""
        raise UnsupportedLayerError(f"{path}: unknown {match.group(1)} '{match.group(2)}'{hint}") from err


def _weights_beside(path: Path) -> Path:
    candidate = path.with_name(path.stem + "_weights.h5")
    if not candidate.is_file():
        raise ModelFileError(f"{path} is an architecture only; set model.weights (expected {candidate})")
    return candidate


def _load_json(path: Path, weights: Path) -> Any:
    import tensorflow as tf

    model = tf.keras.models.model_from_json(path.read_text(), custom_objects=custom_objects())
    model.load_weights(str(weights))
    return model


def _load_h5(path: Path, weights: str | Path | None) -> Any:
    import tensorflow as tf

    model = tf.keras.models.load_model(str(path), custom_objects=custom_objects(), compile=False)
    if weights:
        model.load_weights(str(weights))
    return model


def _load_keras_zip(path: Path) -> Any:
    import tensorflow as tf

    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json")) if "metadata.json" in zf.namelist() else {}
    if str(meta.get("keras_version", "2")).startswith("2"):
        return tf.keras.models.load_model(str(path), custom_objects=custom_objects(), compile=False)
    return _load_keras3_zip(path)


def _load_keras3_zip(path: Path) -> Any:
    """Rebuild a Keras-3 ``.keras`` model in Keras 2: translate the config, then copy weights."""
    import tensorflow as tf

    with zipfile.ZipFile(path) as zf:
        config = _to_keras2(json.loads(zf.read("config.json")))
        weights_bytes = zf.read("model.weights.h5")
    model = tf.keras.models.model_from_json(json.dumps(config), custom_objects=custom_objects())
    _set_keras3_weights(model, weights_bytes, path)
    return model


def _to_keras2(obj: Any) -> Any:
    """Recursively rewrite Keras-3 serialization into what Keras 2.14 accepts."""
    if isinstance(obj, list):
        return [_to_keras2(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if obj.get("class_name") == "DTypePolicy":  # Keras 3 wraps dtypes in a policy object
        return obj["config"]["name"]
    out = {k: _to_keras2(v) for k, v in obj.items() if not _keras3_only(k, v)}
    if "batch_shape" in out:
        out["batch_input_shape"] = out.pop("batch_shape")
    if str(out.get("registered_name") or "").startswith("qkeras>"):
        out["registered_name"] = out["class_name"]  # QKeras v3's package prefix; Keras 2 looks up by class
    out.pop("build_config", None)
    act = out.get("activation")
    if isinstance(act, dict) and str(act.get("module", "")).startswith("qkeras"):
        # QActivation deserializes its quantizer itself and only understands the Keras-2 form.
        out["activation"] = {"class_name": act["class_name"], "config": act["config"], "__passive_serialization__": True}
    return out


# Keys Keras 3 / QKeras v3 add; dropped only when unset so a set value still fails loudly.
_KERAS3_KEYS = ("optional", "post_training_scale", "quantization_config")


def _keras3_only(key: str, value: Any) -> bool:
    return key == "shared_object_id" or (key in _KERAS3_KEYS and value in (None, False))


def _set_keras3_weights(model: Any, weights_bytes: bytes, path: Path) -> None:
    """Keras 3 stores weights as ``layers/<snake_case class name>[_i]/vars/<j>`` in layer order."""
    import io

    import h5py

    counts: dict[str, int] = {}
    with h5py.File(io.BytesIO(weights_bytes), "r") as f:
        for layer in model.layers:
            base = re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", type(layer).__name__).lower()
            key = base if base not in counts else f"{base}_{counts[base]}"
            counts[base] = counts.get(base, 0) + 1
            if not layer.weights:
                continue
            group = f.get(f"layers/{key}/vars")
            if group is None or len(group) != len(layer.weights):
                raise HwaiError(f"{path}: no weights for layer '{layer.name}' (expected group layers/{key})")
            layer.set_weights([group[str(j)][()] for j in range(len(layer.weights))])


def save_model(model: Any, folder: Path) -> Path:
    """Write ``folder/model.h5`` (architecture + weights, no optimizer state)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / CHECKPOINT
    model.save(str(target), include_optimizer=False, save_format="h5")
    return target


def restore_model(folder: Path) -> Any:
    """Load a checkpoint written by :func:`save_model`."""
    target = Path(folder) / CHECKPOINT
    if not target.is_file():
        raise HwaiError(f"no Keras checkpoint at {target}; run the step that writes it first")
    return _load_h5(target, None)
