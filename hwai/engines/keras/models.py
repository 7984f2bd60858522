"""Named architectures, model canonicalization and layer-walking helpers.

hwai works on *chain* models (each layer feeds the next), which covers the trigger MLPs
this toolkit targets. A canonical model has its activations as separate layers
(``fc1, relu1, ..., output, softmax``) so pruning/QAT can replace layers one-to-one and
lowering can drop the final softmax (the trigger only needs the argmax / logits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hwai.errors import DataError, UnsupportedLayerError

JET_MLP_HIDDEN = (64, 32, 32)  # the hls4ml tutorial jet tagger: 16-64-32-32-5


def build_jet_mlp(n_in: int, n_out: int, hidden: list[int] | tuple[int, ...], seed: int, name: str = "jet_mlp") -> Any:
    """Dense/ReLU MLP with layers fc1, relu1, ..., output, softmax (seeded init)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    x = inputs = tf.keras.Input(shape=(n_in,), name="input")
    for i, units in enumerate(hidden, start=1):
        x = tf.keras.layers.Dense(int(units), name=f"fc{i}", kernel_initializer="lecun_uniform")(x)
        x = tf.keras.layers.Activation("relu", name=f"relu{i}")(x)
    x = tf.keras.layers.Dense(n_out, name="output", kernel_initializer="lecun_uniform")(x)
    outputs = tf.keras.layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inputs, outputs, name=name)


DEEPSETS_PHI, DEEPSETS_RHO = (64, 64, 64), (64, 32)   # issue 13's Deep Sets: 75.1 % float
HYBRID_PHI, HYBRID_RHO = (32, 32), (64, 32)            # issue 13: Deep Sets (32-32) + the 16 features, 77.2 % float


def build_deepsets(in_shape: tuple[int, ...], n_out: int, phi: list[int] | tuple[int, ...],
                   rho: list[int] | tuple[int, ...], seed: int, name: str = "deepsets") -> Any:
    """Deep Sets: per-particle Dense/ReLU (phi1..), average pooling over the particles (pool),
    Dense/ReLU (rho1..), output, softmax. The padding particles are zero inputs (no mask):
    the firmware sees the same zeros, and the network learns what a zero particle means."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = tf.keras.Input(shape=tuple(in_shape), name="input")
    for prefix, widths in (("phi", phi), ("rho", rho)):
        if prefix == "rho":
            x = L.GlobalAveragePooling1D(name="pool")(x)
        for i, units in enumerate(widths, start=1):
            x = L.Dense(int(units), name=f"{prefix}{i}", kernel_initializer="lecun_uniform")(x)
            x = L.Activation("relu", name=f"{prefix}{i}_relu")(x)
    x = L.Dense(n_out, name="output", kernel_initializer="lecun_uniform")(x)
    return tf.keras.Model(inputs, L.Activation("softmax", name="softmax")(x), name=name)


def build_hybrid(shapes: list[list[int]], n_out: int, phi: list[int] | tuple[int, ...],
                 rho: list[int] | tuple[int, ...], seed: int, name: str = "hybrid") -> Any:
    """Two inputs: a Deep Sets branch over the particles (per-particle Dense/ReLU phi1..,
    average pooling ``pool``) concatenated (``join``) with the jet features, then Dense/ReLU
    rho1.., output, softmax. ``shapes``: [[P, F], [n_features]] (``data.inputs: particles+features``)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    particles = tf.keras.Input(shape=tuple(shapes[0]), name="particles")
    features = tf.keras.Input(shape=tuple(shapes[1]), name="features")
    x = particles
    for prefix, widths in (("phi", phi), ("rho", rho)):
        if prefix == "rho":
            x = L.Concatenate(name="join")([L.GlobalAveragePooling1D(name="pool")(x), features])
        for i, units in enumerate(widths, start=1):
            x = L.Dense(int(units), name=f"{prefix}{i}", kernel_initializer="lecun_uniform")(x)
            x = L.Activation("relu", name=f"{prefix}{i}_relu")(x)
    x = L.Dense(n_out, name="output", kernel_initializer="lecun_uniform")(x)
    return tf.keras.Model([particles, features], L.Activation("softmax", name="softmax")(x), name=name)


MULTIHEAD_HIDDEN, MULTIHEAD_HEADS = (64, 32), (16,)   # a shared 64-32 trunk, one 16-wide layer per head


def build_multihead(n_in: int, outputs: list[dict], n_classes: int, hidden: list[int] | tuple[int, ...],
                    heads: list[int] | tuple[int, ...], seed: int, name: str = "multihead") -> Any:
    """A shared Dense/ReLU trunk (fc1..) and one head per recipe output (``outputs:``, in order):
    Dense/ReLU ``<name>_fc1..`` then ``<name>``; a ``classify`` head has ``n_classes`` columns
    and a softmax (``<name>_softmax``, dropped at lowering), a ``score`` head one linear column."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = tf.keras.Input(shape=(n_in,), name="input")
    x = _dense_relu(x, hidden, "fc")
    outs = []
    for spec in outputs:
        h = _dense_relu(x, heads, f"{spec['name']}_fc")
        if spec["task"] == "score":
            outs.append(L.Dense(1, name=spec["name"], kernel_initializer="lecun_uniform")(h))
            continue
        h = L.Dense(n_classes, name=spec["name"], kernel_initializer="lecun_uniform")(h)
        outs.append(L.Activation("softmax", name=f"{spec['name']}_softmax")(h))
    return tf.keras.Model(inputs, outs, name=name)


def _dense_relu(x: Any, widths: list[int] | tuple[int, ...], prefix: str) -> Any:
    import tensorflow as tf

    for i, units in enumerate(widths, start=1):
        x = tf.keras.layers.Dense(int(units), name=f"{prefix}{i}", kernel_initializer="lecun_uniform")(x)
        x = tf.keras.layers.Activation("relu", name=f"{prefix}{i}_relu")(x)
    return x


def output_widths(model: Any) -> list[int]:
    """Columns of each model output, in order (shaped outputs flattened)."""
    return [int(np.prod([int(d) for d in t.shape[1:]])) for t in model.outputs]


def output_logits_model(model: Any) -> Any:
    """Sub-model producing every output before a final softmax, in output order."""
    import tensorflow as tf

    model = canonicalize(model)
    ts = [o.input if is_softmax(o) else t for o, t in zip(output_layers(model), model.outputs)]
    return tf.keras.Model(model.inputs, ts, name=f"{model.name}_logits")


def is_graph(model: Any) -> bool:
    """A functional model with branches, several inputs or outputs (not one chain)."""
    from hwai.frontends.keras_graph import is_graph as graph
    return graph(model)


def model_inputs(model: Any, x: np.ndarray) -> Any:
    """What ``model`` takes for rows ``x``: ``x`` itself, or for several inputs the list of
    per-input arrays (the rows hold them side by side, flattened: ``data.inputs: particles+features``)."""
    if len(getattr(model, "inputs", None) or []) <= 1:
        return x
    out, col = [], 0
    for t in model.inputs:
        shape = tuple(int(d) for d in t.shape[1:])
        size = int(np.prod(shape))
        out.append(np.asarray(x[:, col:col + size], dtype=np.float32).reshape((len(x),) + shape))
        col += size
    if col != x.shape[1]:
        raise DataError(f"model '{model.name}' takes {col} input values per row (inputs "
                        f"{[tuple(t.shape[1:]) for t in model.inputs]}) but the data has {x.shape[1]}")
    return out


def chain_layers(model: Any) -> list[Any]:
    """The model's layers in order (InputLayer excluded); rejects branching graphs, except the
    functional graphs the frontend lowers (:func:`is_graph`: topological order)."""
    import tensorflow as tf

    layers = [l for l in model.layers if not isinstance(l, tf.keras.layers.InputLayer)]
    if is_graph(model):
        return layers
    for layer in layers:
        try:
            branching = isinstance(layer.input, (list, tuple))
        except AttributeError:  # Keras: "multiple inbound nodes", i.e. a shared layer
            branching = True
        if branching:
            raise UnsupportedLayerError(f"layer '{layer.name}' ({type(layer).__name__}) is not part of a simple chain; "
                                        "hwai's Keras engine supports sequential models")
    return layers


def rebuild_chain(model: Any, make: Callable[[Any], list[Any]], name: str | None = None,
                  first: list[Any] | None = None) -> Any:
    """New functional model where each layer is replaced by ``make(layer)`` (0..n new layers).

    ``make`` returns freshly built layers (``first`` are applied right after the input);
    weights are not copied here.
    """
    import tensorflow as tf

    if is_graph(model):
        if first:
            raise UnsupportedLayerError(f"model '{model.name}' has several inputs or branches; "
                                        "quantize.input is supported for chain models only")
        return rebuild_graph(model, make, name)
    x = inputs = tf.keras.Input(shape=model.input_shape[1:], name=model.layers[0].name
                                if isinstance(model.layers[0], tf.keras.layers.InputLayer) else "input")
    for new in first or []:
        x = new(x)
    for layer in chain_layers(model):
        for new in make(layer):
            x = new(x)
    return tf.keras.Model(inputs, x, name=name or model.name)


def rebuild_graph(model: Any, make: Callable[[Any], list[Any]], name: str | None = None) -> Any:
    """:func:`rebuild_chain` of a functional graph: the same inputs, merge layers rebuilt from
    their config, every other layer replaced by ``make(layer)`` on its one input."""
    import tensorflow as tf

    from hwai.frontends.keras_graph import MERGES, inbound, input_layers, output_layers

    made: dict[str, Any] = {}
    for layer in input_layers(model):
        made[layer.name] = tf.keras.Input(shape=tuple(layer.get_config()["batch_input_shape"][1:]), name=layer.name)
    for layer in model.layers:
        if layer.name in made:
            continue
        srcs = [made[l.name] for l in inbound(layer)]
        if type(layer).__name__ in MERGES:
            made[layer.name] = type(layer).from_config(layer.get_config())(srcs)
            continue
        x = srcs[0]
        for new in make(layer):
            x = new(x)
        made[layer.name] = x
    outs = [made[l.name] for l in output_layers(model)]
    return tf.keras.Model([made[l.name] for l in input_layers(model)], outs if len(outs) > 1 else outs[0],
                          name=name or model.name)


def canonicalize(model: Any) -> Any:
    """Split fused activations (Dense(activation='relu')) into separate layers; same weights.

    The split-off activation is named ``softmax`` for a final softmax and ``<layer>_act``
    otherwise. Models that are already canonical are returned unchanged.
    """
    layers = chain_layers(model)
    if not any(_fused_activation(l) for l in layers):
        return model
    last = output_layers(model) if is_graph(model) else [layers[-1]]
    clone = rebuild_chain(model, lambda l: _split(l, is_last=any(l is o for o in last)))
    copy_weights(model, clone)
    return clone


def _fused_activation(layer: Any) -> Any:
    """The serialized activation of a weight layer when it is not linear, else None."""
    if not layer.weights or "activation" not in layer.get_config():
        return None
    act = layer.get_config()["activation"]
    return None if act in (None, "linear") else act


def _split(layer: Any, is_last: bool) -> list[Any]:
    import tensorflow as tf

    act = _fused_activation(layer)
    config = layer.get_config()
    if act is None:
        return [type(layer).from_config(config)]
    config["activation"] = "linear"
    act_name = "softmax" if is_last and act == "softmax" else f"{layer.name}_act"
    if type(layer).__name__.startswith("Q"):  # a QKeras layer: its activation is a quantizer
        from qkeras import QActivation

        return [type(layer).from_config(config), QActivation(act, name=act_name)]
    return [type(layer).from_config(config), tf.keras.layers.Activation(act, name=act_name)]


def copy_weights(src: Any, dst: Any) -> None:
    """Copy weights layer-by-layer between models whose weight layers share names."""
    by_name = {l.name: l for l in src.layers}
    for layer in dst.layers:
        if layer.weights and layer.name in by_name:
            layer.set_weights(by_name[layer.name].get_weights())


def check_compatible(model: Any, n_features: int, n_classes: int | None) -> None:
    """Model input width / output width must match the data; name both numbers otherwise.
    ``n_classes`` None: the recipe's ``outputs:`` says what each output is (checked there)."""
    n_in, n_out = model.input_shape[-1], model.output_shape[-1]
    shape = f"input shape {tuple(model.input_shape[1:])}"
    if is_graph(model):   # rows hold every input flattened; the first output is the classifier
        n_in = sum(int(np.prod(t.shape[1:])) for t in model.inputs)
        n_out = int(model.outputs[0].shape[-1])
        shape = "inputs " + ", ".join(f"{t.name.split(':')[0]} {tuple(int(d) for d in t.shape[1:])}"
                                      for t in model.inputs)
    if n_in != n_features:
        raise DataError(f"model '{model.name}' takes {shape} "
                        f"({n_in} features) but the data has {n_features} features; "
                        "check data.features or model.path")
    if n_classes is not None and n_out != n_classes:
        raise DataError(f"model '{model.name}' has {n_out} outputs but the data has {n_classes} classes; "
                        "check data.class_names or model.path")


def activation_name(layer: Any) -> str:
    """Name of a layer's activation whether configured as a string, a dict or a QKeras quantizer."""
    act = layer.get_config().get("activation")
    if act is None or isinstance(act, str):
        return act or ""
    if isinstance(act, dict):
        return str(act.get("class_name", ""))
    return type(act).__name__  # QActivation keeps the quantizer object itself in its config


def is_softmax(layer: Any) -> bool:
    """A standalone softmax layer (Keras Activation or QActivation('softmax'))."""
    return not layer.weights and activation_name(layer) == "softmax"


def logit_model(model: Any) -> Any:
    """Sub-model producing pre-softmax outputs (drops a final softmax layer or fused softmax)."""
    import tensorflow as tf

    if is_graph(model):   # the first output, before a final softmax
        return _graph_logit_model(model)
    last = model.layers[-1]
    if is_softmax(last):
        return tf.keras.Model(model.inputs, last.input, name=f"{model.name}_logits")
    if _fused_activation(last) == "softmax":
        return logit_model(canonicalize(model))
    return model


def _graph_logit_model(model: Any) -> Any:
    import tensorflow as tf

    model = canonicalize(model)
    out = output_layers(model)[0]
    t = out.input if is_softmax(out) else model.outputs[0]
    return tf.keras.Model(model.inputs, t, name=f"{model.name}_logits")


def output_layers(model: Any) -> list[Any]:
    from hwai.frontends.keras_graph import output_layers as outs
    return outs(model)
