"""``hwai init``: a commented starter recipe guessed from a trained model file and a data file.

The model file is inspected without TensorFlow or torch (the Keras config is JSON inside the
HDF5/zip), the data file through :func:`hwai.data.load_dataset` (one reader for everything),
and the text is validated with the recipe schema before it is written.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwai.errors import DataError, RecipeError


@dataclass(frozen=True)
class ModelInfo:
    """What a recipe needs to know about a model file."""

    framework: str
    path: Path
    weights: Path | None = None
    n_inputs: int | None = None
    n_outputs: int | None = None
    quantized: bool = False
    hgq: bool = False         # an HGQ proxy model (FixedPointQuantizer layers)


@dataclass(frozen=True)
class DataInfo:
    path: Path
    features: str
    labels: str
    n_rows: int
    n_features: int
    class_names: tuple[str, ...]


def inspect_model(path: Path) -> ModelInfo:
    """Framework, input/output width and whether it is already quantized (QKeras layers)."""
    path = path.resolve()
    if not path.is_file():
        raise RecipeError(f"--model {path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return ModelInfo("torch", path)
    if suffix == ".onnx":
        raise RecipeError(f"--model {path}: an ONNX file cannot be a recipe's model; give the "
                          "torch module (.pt) or the Keras model (.h5/.keras/.json)")
    if suffix not in (".h5", ".hdf5", ".keras", ".json"):
        raise RecipeError(f"--model {path}: unsupported model type '{suffix}'; use .h5, .keras, .json or .pt")
    config = _keras_config(path)
    layers = _keras_layers(config)
    weights = path.with_name(path.stem + "_weights.h5") if suffix == ".json" else None
    # Keras 2.14 writes a registered class as 'HGQ>FixedPointQuantizer', older files without the prefix
    return ModelInfo("keras", path, weights if weights and weights.is_file() else None,
                     _input_width(layers), _output_width(layers),
                     any(str(layer.get("class_name", "")).startswith("Q") for layer in layers),
                     any(str(layer.get("class_name", "")).endswith("FixedPointQuantizer") for layer in layers))


def _keras_config(path: Path) -> dict:
    """The model's JSON config from a .json, a .keras zip or a full-model .h5."""
    try:
        if path.suffix.lower() == ".json":
            return json.loads(path.read_text())
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        return _h5_config(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise RecipeError(f"--model {path}: not a readable Keras model ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else 'empty'})") from None


def _h5_config(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise RecipeError(f"--model {path}: holds weights only; give the architecture (.json) as "
                          "--model, with this file beside it as <name>_weights.h5")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _keras_layers(config: dict) -> list[dict]:
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list) or not layers:
        raise RecipeError("--model: the Keras config lists no layers (only Sequential and "
                          "single-input functional models are supported)")
    return layers


def _input_width(layers: list[dict]) -> int | None:
    for layer in layers[:1]:
        cfg = layer.get("config", {})
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if shape:
            return int(np.prod([d for d in shape[1:] if d]))
    return None


def _output_width(layers: list[dict]) -> int | None:
    units = [layer["config"]["units"] for layer in layers if "units" in layer.get("config", {})]
    return int(units[-1]) if units else None


def inspect_data(path: Path) -> DataInfo:
    """Feature and label keys (guessed for .npz/.h5), row and feature counts, class names."""
    from hwai.data import load_dataset

    path = path.resolve()
    features, labels = _guess_keys(path)
    cfg = {"source": str(path), "features": features, "labels": labels, "standardize": "none",
           "split": {"train": 0.0, "val": 0.0, "test": 1.0}}
    data = load_dataset(cfg, 0)
    return DataInfo(path, features, labels, len(data.x_test), data.n_features, tuple(data.class_names))


FEATURE_KEYS = ("X", "x", "features", "x_raw", "inputs")   # common names, most likely first
LABEL_KEYS = ("y", "labels", "label", "target", "targets")


def _guess_keys(path: Path) -> tuple[str, str]:
    """The loader's defaults (X, y) when present, else the 2-D array and a 1-D array of its length."""
    arrays = _array_shapes(path)
    if "X" in arrays and "y" in arrays or not arrays:
        return "X", "y"
    two_d = [k for k, s in arrays.items() if len(s) == 2]
    named = [k for k in FEATURE_KEYS if k in two_d]
    two_d = named[:1] or two_d
    if len(two_d) != 1:
        raise DataError(f"--data {path}: cannot tell the feature array among {', '.join(sorted(arrays))}; "
                        "write the recipe's data.features by hand")
    rows = arrays[two_d[0]][0]
    one_d = [k for k, s in arrays.items() if s == (rows,) and not k.endswith("_names")]
    one_d = [k for k in LABEL_KEYS if k in one_d][:1] or one_d
    if len(one_d) != 1:
        raise DataError(f"--data {path}: cannot tell the label array among {', '.join(sorted(arrays))}; "
                        "write the recipe's data.labels by hand")
    return two_d[0], one_d[0]


def _array_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as f:
                return {k: tuple(f[k].shape) for k in f.files}
        if path.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                return {k: tuple(v.shape) for k, v in f.items() if isinstance(v, h5py.Dataset)}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"--data {path}: not a readable data file ({type(err).__name__})") from None
    return {}


def starter_recipe(model: ModelInfo, data: DataInfo, name: str) -> str:
    """Commented recipe text; the model is imported as is (no training) and checked bit-exact."""
    if model.n_inputs is not None and model.n_inputs != data.n_features:
        raise DataError(f"--model {model.path.name} takes {model.n_inputs} inputs but --data "
                        f"{data.path.name} has {data.n_features} features")
    if model.n_outputs is not None and model.n_outputs != len(data.class_names):
        raise DataError(f"--model {model.path.name} has {model.n_outputs} outputs but --data "
                        f"{data.path.name} has {len(data.class_names)} classes")
    return TEMPLATE.format(name=name, model=_model_block(model), source=json.dumps(str(data.path)),
                           features=data.features, labels=data.labels, rows=data.n_rows,
                           n_features=data.n_features, classes=json.dumps(list(data.class_names)),
                           qnote=_quantized_note(model), input_type=_input_type(model))


def _quantized_note(model: ModelInfo) -> str:
    if model.hgq:
        return "an HGQ proxy model (a fixed-point type per weight and per neuron): imported as is"
    if model.quantized:
        return "already quantized (QKeras): imported as is"
    return "a float model: lower picks default fixed-point types (lower.weight/activation)"


def _input_type(model: ModelInfo) -> str:
    """HGQ's input quantizer truncates: a truncating firmware input keeps firmware == Keras."""
    return "width: 16, integer: 6, rounding: TRN" if model.hgq else "width: 16, integer: 6"


def _model_block(model: ModelInfo) -> str:
    lines = [f"  framework: {model.framework}", f"  path: {json.dumps(str(model.path))}"]
    if model.weights:
        lines.append(f"  weights: {json.dumps(str(model.weights))}")
    if model.framework == "torch":
        lines.append("  trust_pickle: false     # true only if you trust this file: unpickling runs its code")
    return "\n".join(lines)


def safe_name(stem: str) -> str:
    """A recipe name from a file stem: letters, digits and underscores."""
    name = re.sub(r"\W+", "_", stem).strip("_")
    return name if name and not name[0].isdigit() else f"model_{name}"


TEMPLATE = """\
# Starter recipe written by `hwai init`: check every line, then run
#   hwai validate THIS.yaml   and   hwai compress THIS.yaml
# Field reference: `hwai steps`, README "Recipe fields", hwai/recipe/schema.py.
name: {name}
description: imported model checked bit-exact and emitted as HLS

model:                    # {qnote}
{model}

data:                     # {rows} rows, {n_features} features
  source: {source}
  features: {features}
  labels: {labels}
  class_names: {classes}  # order = the model's output order; edit if that is wrong
  standardize: none       # the rows must already be scaled the way the model was trained
  split: {{train: 0.0, val: 0.0, test: 1.0}}   # no training: every row is a test row

target:
  part: xcvu9p-flga2104-2L-e
  clock_period_ns: 5.0

budget: {{lut: 100000, dsp: 1000, latency_ns: 200, on_fail: warn}}   # set yours; warn -> error to gate

steps:
  - evaluate
  # - quantize: {{bits: 8, integer: 2, epochs: 5}}   # QAT fine-tuning; needs train/val rows in data.split
  - lower: {{input: {{{input_type}}}}}
  - estimate
  - budget
  - emit: {{backend: [native]}}    # add hls4ml, verilog
  - csim: {{vectors: 1000}}
"""
