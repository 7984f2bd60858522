"""The IR as hls4ml's own layer list: no TensorFlow (or torch) model on the way.

hls4ml's front ends (Keras, PyTorch, ONNX) all end in
``ModelGraph.from_layer_list(config, layer_list)``: one dict per layer with its class
name and data (hls4ml/converters/keras_v2_to_hls.py, ``parse_keras_model``). The IR
already holds every weight and every type, so :func:`convert_layer_list` writes those
dicts directly — the ones hls4ml's Keras parser produces for a plain ``Dense`` /
``Activation`` model (``parse_dense_layer``, ``parse_activation_layer``), including
the ``<dense>_linear`` activation it splits off each Dense — and hands them to hls4ml.
Weights go in as the exact float64 values of their fixed-point codes, so nothing is
rounded through float32 on the way, and the framework a recipe trained with does not
matter (a torch recipe never imports TensorFlow here).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.target import Target


@dataclass(frozen=True)
class HlsLayer:
    """One hls4ml layer and the IR tensor its output equals."""

    name: str                 # hls4ml layer name (= the IR node's name)
    kind: str                 # "dense" | "relu" | "linear" | "fixed_point_quantizer"
    node: Node                # the IR node computing it
    tensor: str               # IR tensor equal to the layer's output (a fused quant's)
    result: FixedType


def layer_list(graph: Graph, plan: list[HlsLayer]) -> list[dict[str, Any]]:
    """hls4ml's layer dicts for ``plan``: one ``InputLayer`` per graph input, then each op's
    own dicts (``Op.hls4ml_layer_dicts``)."""
    return layer_dicts(graph, plan)[0]


def layer_dicts(graph: Graph, plan: list[HlsLayer]) -> tuple[list[dict[str, Any]], list[str]]:
    """The layer dicts and the hls4ml layers whose outputs are the graph outputs (in order).
    The first dict of a node names the layers it reads (a graph with branches); the others
    follow it in a chain; a tensor is read from the last dict of the layer computing it."""
    from hwai.ir.registry import op_of

    out: list[dict[str, Any]] = [{"name": t, "class_name": "InputLayer", "data_format": "channels_last",
                                  "input_shape": list(graph.tensor(t).shape)} for t in graph.inputs]
    last = {t: t for t in graph.inputs}      # IR tensor -> hls4ml layer whose output equals it
    for layer in plan:
        op = op_of(layer.node)
        dicts = op.hls4ml_layer_dicts(graph, layer)
        dicts[0].setdefault("inputs", op.hls4ml_input_layers([_layer_of(graph, last, t) for t in layer.node.inputs]))
        out += dicts
        last[layer.tensor] = dicts[-1]["name"]
    return out, [last[t] for t in graph.outputs]


def _layer_of(graph: Graph, last: dict[str, str], tensor: str) -> str:
    """The hls4ml layer whose output is ``tensor``; a node with no layer of its own (windows
    absorbed into the Conv after them) passes its input's layer on."""
    while tensor not in last:
        tensor = graph.producer(tensor).inputs[0]
    return last[tensor]


# weight and bias type of a Dense of constant 0/1 weights (how hls4ml computes an op it has no
# layer for: a sum of squares, a global sum): unsigned, one integer bit
ONE = FixedType(1, 1, False)


def dense_dicts(name: str, weight: np.ndarray, bias: np.ndarray) -> list[dict[str, Any]]:
    """hls4ml's ``Dense`` dict (exact float64 ``weight`` (n_in, n_out) and ``bias``) plus the
    ``<name>_linear`` activation its Keras parser splits off (``parse_dense_layer``)."""
    n_in, n_out = (int(d) for d in weight.shape)
    dense = {"name": name, "class_name": "Dense", "data_format": "channels_last", "activation": "linear",
             "use_bias": True, "weight_data": weight, "bias_data": bias.reshape(n_out), "n_in": n_in,
             "n_out": n_out, "weight_quantizer": None, "bias_quantizer": None}
    return [dense, activation_dict(f"{name}_linear", "linear")]


def dense_types(hls_layer: Any) -> dict[str, Any]:
    """hls4ml's weight, bias and accumulator precisions of a Dense layer."""
    return {"weight": hls_layer.weights["weight"].type.precision,
            "bias": hls_layer.weights["bias"].type.precision,
            "accum": hls_layer.get_attr("accum_t").precision}


def linear_config(name: str, result: str) -> dict[str, Any]:
    """Config of the ``<name>_linear`` activation after a Dense: its result type, so hls4ml
    eliminates it (same type as the Dense's)."""
    return {f"{name}_linear": {"Precision": {"result": result}}}


def activation_dict(name: str, function: str, **extra: Any) -> dict[str, Any]:
    """An ``Activation``-family layer dict as hls4ml's Keras parser writes it."""
    return {"name": name, "class_name": "Activation", "data_format": "channels_last",
            "activation": function, **extra}


def convert_layer_list(graph: Graph, plan: list[HlsLayer], hls_config: dict[str, Any],
                       out_dir: Path, target: Target) -> Any:
    """hls4ml ModelGraph of ``plan`` with ``hls_config`` (what ``convert_from_keras_model``
    does after parsing its model: hls4ml/converters/__init__.py)."""
    from hls4ml.model.graph import ModelGraph
    from hls4ml.utils.config import create_config

    config = create_config(output_dir=str(out_dir), project_name=target.project_name,
                           backend="Vitis" if target.flavour == "vitis" else "Vivado", part=target.part,
                           clock_period=target.clock_period_ns, io_type=target.io_type)
    # BitExact False: hls4ml's own precision propagation stays off (None would turn it on
    # for a model with a FixedPointQuantizer, and it rewrites types); every type is set by name
    config.update(InputData=None, OutputPredictions=None,
                  HLSConfig={**hls_config, "Model": {**hls_config["Model"], "BitExact": False}})
    layers, outputs = layer_dicts(graph, plan)
    return ModelGraph.from_layer_list(config, layers, inputs=list(graph.inputs), outputs=outputs)


@contextmanager
def keras_unimported() -> Iterator[None]:
    """hls4ml's writer runs ``import keras`` (inside try/except) only to teach YAML how to
    save a Keras model found in the config (vivado_writer.py, ``write_yml``); a layer-list
    config holds none, and that import would load TensorFlow (seconds, and a framework a
    torch recipe never asked for). Make it fail fast while hls4ml writes, unless Keras is
    already loaded (then the representer is harmless and the import free)."""
    if "keras" in sys.modules:
        yield
        return
    sys.modules["keras"] = None  # type: ignore[assignment]  # `import keras` -> ImportError
    try:
        yield
    finally:
        if sys.modules.get("keras", 0) is None:
            del sys.modules["keras"]


def write_project(hls_model: Any) -> None:
    """``hls_model.write()`` without importing TensorFlow."""
    with keras_unimported():
        hls_model.write()


def compile_project(hls_model: Any) -> None:
    """``hls_model.compile()`` (which writes again first) without importing TensorFlow."""
    with keras_unimported():
        hls_model.compile()


FIXED_POINT_QUANTIZER = "fixed_point_quantizer"   # HlsLayer.kind of a per-element quant


def fixed_point_quantizer_dict(graph: Graph, layer: HlsLayer, types: list[FixedType | None]) -> dict[str, Any]:
    """The dict hls4ml's Keras handler writes for ``FixedPointQuantizer``
    (hls4ml/converters/keras/hgq_proxy_model.py): per-element (signed, width, integer)
    masks with a leading batch axis; a 0-bit element becomes ``out[i] = 0``. hls4ml casts
    element i with ``ap_[u]fixed<b_i, i_i, AP_RND, AP_SAT>`` (the output type's modes)
    into the result type, which covers every element type, so nothing else rounds."""
    t = graph.tensor(layer.node.outputs[0]).type
    kbi = [(e.signed, e.width, e.integer) if e is not None else (False, 0, 0) for e in types]
    mask = tuple(np.array([[row[k] for row in kbi]], dtype=np.int64) for k in range(3))
    return {"name": layer.name, "class_name": "FixedPointQuantizer", "data_format": "channels_last",
            "RND": t.rounding, "SAT": t.overflow, "fusible": False, "mask_kbi": mask, "overrides": {}}
