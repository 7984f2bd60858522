"""Keras functional models with branches, several inputs and several outputs -> IR graph.

The model is cut into *segments*: maximal runs of single-input layers where each layer is
the only reader of the one before (a chain). Each segment is planned and emitted by the
chain frontend's own rules (:func:`hwai.frontends.keras._plan`, ``_emit_step``: the same
Dense/activation/BatchNormalization/pooling handling), starting from the IR tensor of the
layer feeding it. Merge layers (``Add``, ``Concatenate``) become ``add`` / ``concat`` nodes
reading the IR tensors of their inbound layers. Every model input is a graph input
(its Keras name, :func:`hwai.names.identifier`), every model output a graph output (a final
softmax dropped, as for chains: outputs are logits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.frontends import keras_layers as kl
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.types import FixedType
from hwai.names import identifier


@dataclass(frozen=True)
class ChainRules:
    """The chain frontend's planning and emitting (:mod:`hwai.frontends.keras` passes them in,
    so the two modules do not import each other)."""

    plan: Callable[[list[Any]], tuple[list[Any], str]]
    emit: Callable[[Any, Any], None]
    emitter: type
    is_softmax: Callable[[Any], bool]


# Keras merge class -> IR op; the other Keras merges have no exact op here
MERGES = {"Add": "add", "Concatenate": "concat"}
REFUSED_MERGES = ("Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot")


def inbound(layer: Any) -> list[Any]:
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes:
        return []
    ins = nodes[0].inbound_layers
    return list(ins) if isinstance(ins, (list, tuple)) else [ins]


def output_layers(model: Any) -> list[Any]:
    return [t._keras_history.layer for t in model.outputs]


def input_layers(model: Any) -> list[Any]:
    return [t._keras_history.layer for t in model.inputs]


def is_graph(model: Any) -> bool:
    """A functional model that is not one chain: several inputs/outputs, a merge or a fork."""
    if type(model).__name__ == "Sequential" or not hasattr(model, "outputs"):
        return False
    if len(model.inputs) > 1 or len(model.outputs) > 1:
        return True
    readers = _readers(model)
    return any(len(inbound(l)) > 1 for l in model.layers) or any(len(r) > 1 for r in readers.values())


def _readers(model: Any) -> dict[str, list[str]]:
    """Keras layer name -> names of the layers (and model outputs, as ``<output>``) reading it."""
    out: dict[str, list[str]] = {l.name: [] for l in model.layers}
    for layer in model.layers:
        for src in inbound(layer):
            out[src.name].append(layer.name)
    for layer in output_layers(model):
        out[layer.name].append("<output>")
    return out


def check_graph(model: Any, rules: ChainRules) -> None:
    """Refuse, in one line and before any work, what the graph walk cannot lower."""
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in REFUSED_MERGES:
            raise kl.unsupported(layer, "merge layers supported: Add, Concatenate")
        if len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise kl.unsupported(layer, "a layer called more than once (shared weights); call each layer once")
        if cls not in MERGES and cls not in kl.SUPPORTED:
            raise kl.unsupported(layer)
    for seg in segments(model):
        _plan_segment(model, seg, rules)


def segments(model: Any) -> list[list[Any]]:
    """The model's chains of single-input layers, in topological order (merges alone).
    A layer continues its source's chain, wherever Keras lists it: parallel branches (two heads
    on one trunk) interleave in ``model.layers``."""
    readers = _readers(model)
    out: list[list[Any]] = []
    seg_of: dict[str, list[Any]] = {}
    for layer in model.layers:
        src = inbound(layer)
        joins = len(src) != 1 or type(layer).__name__ in MERGES or type(src[0]).__name__ in MERGES \
            or type(src[0]).__name__ == "InputLayer" or len(readers[src[0].name]) != 1
        if joins:
            out.append([])
        seg = out[-1] if joins else seg_of[src[0].name]
        seg.append(layer)
        seg_of[layer.name] = seg
    return out


def _plan_segment(model: Any, seg: list[Any], rules: ChainRules) -> tuple[list[Any], str]:
    if type(seg[0]).__name__ in MERGES or type(seg[0]).__name__ == "InputLayer":
        return [], "linear"
    plan, act = rules.plan(seg)
    if act == "softmax" and seg[-1] not in output_layers(model):
        raise kl.unsupported(seg[-1], "softmax is supported only on a model output")
    return plan, act


def lower_graph(model: Any, input_type: FixedType | Mapping[str, FixedType], weight_type: FixedType,
                act_type: FixedType, name: str, rules: ChainRules) -> Graph:
    """The IR graph of a functional model (types filled by the caller's precision pass)."""
    check_graph(model, rules)
    steps: list[tuple[Node, Tensor]] = []
    tensors: dict[str, Tensor] = {}
    ir_of: dict[str, str] = {}          # Keras layer -> IR tensor equal to its output
    em_layers: dict[str, str] = {}
    keras_outputs: dict[str, str] = {}
    out_acts: dict[str, str] = {}
    for layer in input_layers(model):
        t = Tensor(identifier(layer.name), tuple(int(d) for d in layer.output_shape[0][1:])
                   if isinstance(layer.output_shape, list) else tuple(int(d) for d in layer.output_shape[1:]),
                   _input_type(input_type, layer.name))
        tensors[t.name] = t
        ir_of[layer.name] = t.name
    for seg in segments(model):
        first = seg[0]
        if type(first).__name__ == "InputLayer":
            continue
        if type(first).__name__ in MERGES:
            _emit_merge(first, steps, tensors, ir_of, em_layers)
            keras_outputs[first.name] = ir_of[first.name]
            continue
        plan, act = _plan_segment(model, seg, rules)
        src = ir_of[inbound(first)[0].name]
        em = rules.emitter(weight_type, act_type, src, tensors[src].shape, steps=steps, layers=em_layers,
                      outputs_of=keras_outputs)
        n0 = len(steps)
        for step in plan:
            rules.emit(em, step)
        em.flush_float()
        for _node, t in steps[n0:]:
            tensors[t.name] = t
        ir_of[seg[-1].name] = em.current
        out_acts[seg[-1].name] = act
    outputs = tuple(ir_of[l.name] for l in output_layers(model))
    meta = {"framework": "keras", "output_activation": out_acts.get(output_layers(model)[0].name, "linear"),
            "output_activations": [out_acts.get(l.name, "linear") for l in output_layers(model)],
            "layers": dict(em_layers), "keras_outputs": dict(keras_outputs), "keras_model": model.name,
            "keras_inputs": {ir_of[l.name]: l.name for l in input_layers(model)}}
    inputs = tuple(ir_of[l.name] for l in input_layers(model))
    return Graph(name, inputs, outputs, tensors, tuple(n for n, _ in steps), meta)


def _input_type(input_type: FixedType | Mapping[str, FixedType], name: str) -> FixedType:
    if isinstance(input_type, FixedType):
        return input_type
    if name not in input_type:
        raise UnsupportedLayerError(f"model input {name!r} has no input type (given for: "
                                    f"{', '.join(sorted(input_type))})")
    return input_type[name]


def _emit_merge(layer: Any, steps: list, tensors: dict[str, Tensor], ir_of: dict[str, str],
                em_layers: dict[str, str]) -> None:
    """An ``add`` / ``concat`` node reading the IR tensors of the layer's inbound layers;
    its output type is left to precision inference (the exact sum / the covering type)."""
    from hwai.names import fresh

    srcs = [ir_of[l.name] for l in inbound(layer)]
    shapes = [tensors[s].shape for s in srcs]
    cls = type(layer).__name__
    attrs: dict[str, Any] = {}
    shape = shapes[0] if len(set(shapes)) == 1 else None     # Add: one shape
    if cls == "Concatenate":
        axis = int(layer.get_config()["axis"])
        attrs["axis"] = axis - 1 if axis > 0 else axis     # Keras counts the batch axis
        shape = _concat_shape(shapes, attrs["axis"])
    if shape is None:
        raise kl.unsupported(layer, f"inputs of shapes {shapes} do not merge")
    name = fresh(layer.name, set(tensors) | {n.name for n, _ in steps})
    t = Tensor(name, tuple(shape), None)
    steps.append((Node(name, MERGES[cls], tuple(srcs), (name,), attrs), t))
    tensors[name] = t
    ir_of[layer.name] = name
    em_layers[name] = layer.name


def _concat_shape(shapes: list[tuple[int, ...]], axis: int) -> tuple[int, ...] | None:
    """Keras' Concatenate shape rule (the IR op checks the same in ``concat.check``)."""
    a = axis + len(shapes[0]) if axis < 0 else axis
    if not 0 <= a < len(shapes[0]) or len({s[:a] + s[a + 1:] for s in shapes}) != 1:
        return None
    return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]


# --- the framework's forward pass --------------------------------------------------

def graph_logits(model: Any, xs: list[np.ndarray], rules: ChainRules) -> list[np.ndarray]:
    """Each model output before a final softmax (float64, flattened per sample), for real
    inputs ``xs`` (one array per model input, in order)."""
    import tensorflow as tf

    outs, patched = [], []
    for layer, t in zip(output_layers(model), model.outputs):
        if rules.is_softmax(layer):
            t = layer.input
        elif getattr(getattr(layer, "activation", None), "__name__", "") == "softmax":
            patched.append((layer, layer.activation))
            layer.activation = tf.keras.activations.linear
        outs.append(t)
    try:
        sub = tf.keras.Model(model.inputs, outs)
        feed = [np.asarray(x, dtype=np.float32).reshape((len(x),) + tuple(i.shape[1:]))
                for x, i in zip(xs, model.inputs)]
        ys = sub(feed, training=False)
    finally:
        for layer, act in patched:
            layer.activation = act
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    return [np.asarray(y, dtype=np.float64).reshape(len(xs[0]), -1) for y in ys]
