"""Keras / QKeras frontend: a trained model becomes a typed hwai IR graph.

Every tensor that QKeras quantizes gets the exact ``ap_fixed`` equivalent of its
quantizer; every other tensor (Dense accumulators and outputs) is left untyped and
filled by :func:`hwai.passes.infer_precision` with the exact type of its interval, so
the IR computes what QKeras computes, only in integers. Float layers are quantized with
``weight_type`` / ``act_type`` (hls4ml's ap_fixed<16,6> convention, but with
RND_CONV/SAT so nothing wraps silently).

TensorFlow, QKeras and tfmot are imported lazily: ``import hwai`` stays fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.frontends import hgq, keras_graph
from hwai.frontends import keras_conv as kc
from hwai.frontends import keras_layers as kl
from hwai.frontends import keras_norm as kn
from hwai.frontends import keras_tables as kt
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.interp import run
from hwai.ir.numeric import DEFAULT_TYPE
from hwai.ir.tables import DEFAULT_TABLE_BITS
from hwai.ir.types import FixedType
from hwai.names import fresh, identifier
from hwai.passes.precision import infer_precision


@dataclass
class _Step:
    """One planned Dense (with an optional folded BatchNormalization) or activation."""

    role: str                       # "dense" | "activation"
    layer: Any
    kind: str = "linear"            # activation kind (see keras_layers.activation_kind)
    qtype: FixedType | None = None  # exact type of a QKeras activation quantizer
    bn: Any = None                  # BatchNormalization folded into this Dense
    act: tuple[str, FixedType | None] = ("linear", None)   # a Dense's own activation


@dataclass
class _Emitter:
    """Accumulates (node, tensor) pairs while walking the plan."""

    weight_type: FixedType
    act_type: FixedType
    current: str
    shape: tuple[int, ...]          # per-sample shape of ``current``
    pending_float: bool = False     # a float Dense whose output still needs act_type
    current_type: FixedType | None = None      # type of ``current`` (None: filled by infer_precision)
    table: tuple[int, int | None] = (DEFAULT_TABLE_BITS, None)  # lookup tables: index bits, entry width
    steps: list[tuple[Node, Tensor]] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)
    outputs_of: dict[str, str] = field(default_factory=dict)

    def emit(self, name: str, op: str, keras_name: str, ftype: FixedType | None = None,
             size: int | None = None, shape: tuple[int, ...] | None = None, **attrs: Any) -> None:
        name = self._unique(name)
        if shape is not None:
            self.shape = shape
        elif size is not None:   # a dense maps the last axis (per particle on a (P, F) input)
            self.shape = self.shape[:-1] + (size,)
        self.steps.append((Node(name, op, (self.current,), (name,), attrs),
                           Tensor(name, self.shape, ftype)))
        self.current, self.current_type = name, ftype
        self.layers[name] = keras_name
        self.outputs_of[keras_name] = name

    def _unique(self, name: str) -> str:
        return fresh(name, {n.name for n, _ in self.steps})

    def flush_float(self) -> None:
        """A float Dense that no quantizer followed: cast its output to act_type."""
        if self.pending_float:
            self.emit(f"{self.current}_quant", "quant", self.layers[self.current], self.act_type)
            self.pending_float = False


def lower_keras(model: Any, input_type: FixedType | dict[str, FixedType], *, weight_type: FixedType | None = None,
                act_type: FixedType | None = None, name: str = "model", table: Any = None,
                output: str = "logits") -> Graph:
    """Lower a Sequential (or linear functional) Keras/QKeras model to a typed IR graph.

    Outputs are pre-softmax logits; ``meta['output_activation']`` records a dropped softmax.
    ``table``: the recipe's ``lower: {table: {bits, width}}`` for sigmoid/tanh/softmax tables;
    ``output="softmax"`` keeps a final softmax in firmware (the ``softmax`` op) instead.
    Raises :class:`hwai.errors.UnsupportedLayerError` before any work for layers or
    quantizers without an exact fixed-point equivalent.
    """
    model = _strip_pruning(model)
    if keras_graph.is_graph(model):   # branches, several inputs or outputs
        if output == "softmax":
            raise UnsupportedLayerError("lower: output softmax is for single-output chain models; a model with "
                                        "branches or several inputs/outputs keeps its logits (drop 'output')")
        graph = keras_graph.lower_graph(model, input_type, weight_type or DEFAULT_TYPE,
                                        act_type or DEFAULT_TYPE, name, _rules(table))
        return infer_precision(graph)
    layers = _chain_layers(model)
    if hgq.is_hgq_model(model):  # HGQ proxy: per-element quantizers and per-weight types
        return hgq.lower_hgq(model, layers, input_type, input_name=_input_name(model), name=name)
    plan, out_act = _plan(layers)
    in_name = identifier(_input_name(model))
    in_shape = _input_shape(model, plan)
    em = _Emitter(weight_type or DEFAULT_TYPE, act_type or DEFAULT_TYPE, in_name, in_shape,
                  current_type=input_type, table=kt.table_options(table))
    for step in plan:
        _emit_step(em, step)
    em.flush_float()
    if output == "softmax":
        kt.emit_softmax(em, _softmax_name(layers[-1], out_act))
        out_act = "linear"
    meta = {"framework": "keras", "output_activation": out_act, "layers": dict(em.layers),
            "keras_outputs": dict(em.outputs_of), "keras_model": model.name}
    graph = chain(name, Tensor(in_name, in_shape, input_type), em.steps, meta)
    return infer_precision(graph)


def check_supported(model: Any) -> None:
    """Raise UnsupportedLayerError for the first layer :func:`lower_keras` would reject.

    Walks the user's model as loaded (the user's layer names, before hwai splits fused
    activations or wraps layers), and does no numeric work: the recipe runner calls it
    before any training time is spent.
    """
    model = _strip_pruning(model)
    if keras_graph.is_graph(model):
        keras_graph.check_graph(model, _rules())
        return
    _single_input(model)
    if hgq.is_hgq_model(model):
        hgq.check_supported(_chain_layers(model))
        return
    _plan(_chain_layers(model))


def _rules(table: Any = None) -> keras_graph.ChainRules:
    """This module's chain rules, for the walk over functional graphs (``table``: the recipe's
    lookup-table options, as for a chain)."""
    return keras_graph.ChainRules(_plan, _emit_step, functools.partial(_Emitter, table=kt.table_options(table)),
                                  _is_softmax_layer)


def _single_input(model: Any) -> None:
    inputs = list(getattr(model, "inputs", None) or [])
    if len(inputs) <= 1:
        return
    second = inputs[1]
    layer = getattr(second, "_keras_history", None)
    name = layer.layer.name if layer is not None else getattr(second, "name", "?")
    raise UnsupportedLayerError(f"model {model.name!r} has {len(inputs)} inputs; models with several "
                                   f"inputs are not supported yet (layer {name!r}); merge the features "
                                   "into one input vector")


# --- walking the model ----------------------------------------------------------

def _strip_pruning(model: Any) -> Any:
    """tfmot wrappers hold the masked kernel inside; strip them to plain layers first."""
    if not any(type(l).__name__ == "PruneLowMagnitude" for l in model.layers):
        return model
    import tensorflow_model_optimization as tfmot
    return tfmot.sparsity.keras.strip_pruning(model)


def _chain_layers(model: Any) -> list[Any]:
    """The model's layers in order; a functional model must be a single chain."""
    layers = list(model.layers)
    if type(model).__name__ == "Sequential":
        return layers
    prev = None
    for layer in layers:
        inbound = _inbound_layers(layer)
        if prev is not None and inbound != [prev]:
            raise kl.unsupported(layer, "hwai lowers linear chains only (one input per layer, "
                                        "fed by the previous layer)")
        prev = layer
    return layers


def _inbound_layers(layer: Any) -> list[Any]:
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes:
        return []
    inbound = nodes[0].inbound_layers
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def _input_name(model: Any) -> str:
    names = getattr(model, "input_names", None)
    return names[0] if names else "input"


def _input_shape(model: Any, plan: list[_Step]) -> tuple[int, ...]:
    """(P, F) for a particle-set model (a pooling layer: Deep Sets), else the flat size."""
    if any(step.role in ("pool", "conv", "window_pool") or (step.role == "dense" and len(step.layer.input_shape) == 3)
           for step in plan):
        return tuple(int(d) for d in model.input_shape[1:])
    return (kl.flat_size(model.input_shape),)


def _plan_pool(layer: Any, layers: list[Any]) -> _Step:
    """Global pooling over the particle axis of a (P, C) tensor, channels last, no keepdims."""
    cfg = layer.get_config()
    if cfg.get("keepdims") or cfg.get("data_format", "channels_last") != "channels_last" \
            or len(layer.input_shape) not in (3, 4):
        raise kl.unsupported(layer, "global pooling of a (particles, channels) input (or (height, width, "
                                    "channels)), channels_last, keepdims=False")
    flat = [l.name for l in layers if type(l).__name__ == "Flatten"]
    if flat:
        raise kl.unsupported(layer, f"a particle-set model with a Flatten layer ({flat[0]!r}); "
                                    "pool the particles instead")
    kn.check_global_average(layer)
    return _Step("pool", layer, kl.POOL_MODES[type(layer).__name__])


def _plan(layers: list[Any]) -> tuple[list[_Step], str]:
    """Classify every layer (raising on the first unsupported one) and attach BN to Dense."""
    for layer in layers:  # fail on class before looking at any configuration
        if type(layer).__name__ not in kl.SUPPORTED:
            raise kl.unsupported(layer)
    plan: list[_Step] = []
    for layer in layers:
        role = kl.SUPPORTED[type(layer).__name__]
        if role == "dense":
            plan.append(_plan_dense(layer))
        elif role == "activation":
            kind, qtype = _layer_activation(layer)
            if kind == "qtable":
                kt.check_planned_input(layer, plan[-1] if plan else None)
            plan.append(_Step("activation", layer, kind, qtype))
        elif role == "batchnorm":
            _attach_batchnorm(plan, layer)
        elif role == "pool":
            plan.append(_plan_pool(layer, layers))
        elif role == "conv":
            plan.append(_Step("conv", layer, act=kc.conv_activation(layer)))
        elif role == "reshape":
            plan.append(_Step("reshape", layer))
        elif role == "window_pool":
            plan.append(_Step("window_pool", layer, kn.window_pool_attrs(layer)["mode"]))
        elif role == "score":
            plan.append(_plan_score(layer, layers))
    return _final_softmax(plan)


def _plan_score(layer: Any, layers: list[Any]) -> _Step:
    """The anomaly score Σ x² (hwai's SumSquares layer) of a vector, as the model's last layer."""
    if layer is not layers[-1] or len(layer.input_shape) != 2:
        raise kl.unsupported(layer, "SumSquares only as the last layer, on a vector (the latent means)")
    return _Step("score", layer)


def _plan_dense(layer: Any) -> _Step:
    if len(layer.input_shape) not in (2, 3):   # 3: a per-particle Dense on (P, F)
        raise kl.unsupported(layer, f"Dense on a {len(layer.input_shape) - 1}-d input "
                                    "(add a Flatten before it)")
    for attr in ("kernel_quantizer_internal", "bias_quantizer_internal"):
        q = getattr(layer, attr, None)
        if q is not None:
            kl.check_alpha(layer, q, allow_auto_po2=True)
    act = kl.activation_kind(layer, layer.activation)
    if act[0] == "qtable":
        raise kl.unsupported(layer, "a Dense's own hard_sigmoid activation; use a separate "
                                    "QActivation(quantized_bits(...)) then QActivation('hard_sigmoid')")
    return _Step("dense", layer, act=act)


def _layer_activation(layer: Any) -> tuple[str, FixedType | None]:
    cls = type(layer).__name__
    if cls == "ReLU":
        kl.relu_layer_ok(layer)
        return "relu", None
    if cls == "Softmax":
        return "softmax", None
    if cls == "LeakyReLU":
        return f"leaky_relu:{kl.leaky_shift(layer)}", None
    if cls == "QActivation":
        return kl.activation_kind(layer, layer.quantizer)
    return kl.activation_kind(layer, layer.get_config()["activation"])


def _attach_batchnorm(plan: list[_Step], bn: Any) -> None:
    """Fold into a float Dense or Conv with linear activation right before it; else a standalone step."""
    kl.batchnorm_scale_shift(bn)   # refuses an unsupported axis / renorm at planning time
    prev = plan[-1] if plan else None
    if prev is None or prev.role not in ("dense", "conv") or prev.bn is not None or prev.act[0] != "linear" \
            or getattr(prev.layer, "kernel_quantizer_internal", None) is not None:
        plan.append(_Step("batchnorm", bn))
        return
    prev.bn = bn


def _final_softmax(plan: list[_Step]) -> tuple[list[_Step], str]:
    """Drop a final softmax (IR outputs are logits); reject softmax anywhere else."""
    out_act = "linear"
    if plan and plan[-1].role == "activation" and plan[-1].kind == "softmax":
        plan, out_act = plan[:-1], "softmax"
    elif plan and plan[-1].role == "dense" and plan[-1].act[0] == "softmax":
        plan[-1].act, out_act = ("linear", None), "softmax"
    for step in plan:
        if step.kind == "softmax" or step.act[0] == "softmax":
            raise kl.unsupported(step.layer, "softmax is supported only as the last layer")
    return plan, out_act


# --- emitting IR nodes ----------------------------------------------------------

def _emit_step(em: _Emitter, step: _Step) -> None:
    if step.role == "score":   # float latent means are cast to act_type first, as before any op
        em.flush_float()
        em.emit(step.layer.name, "sum_squares", step.layer.name, None, shape=(1,))
        return
    if step.role in ("batchnorm", "window_pool"):
        _emit_norm_pool(em, step)
        return
    if step.role == "pool":
        em.flush_float()
        # exact output type (None): Keras' float32 mean of on-grid values is exact (sum of
        # P codes then / 2**k), so no cast here; the next layer quantizes as usual
        em.emit(step.layer.name, "global_pool", step.layer.name, None, shape=em.shape[-1:], mode=step.kind)
        return
    if step.role == "reshape":
        _emit_reshape(em, step.layer)
        return
    if step.role in ("dense", "conv"):
        em.flush_float()
        if step.role == "conv":
            _emit_patches(em, step.layer)
        _emit_dense(em, step)
        kind, qtype = step.act
        _emit_activation(em, step.layer.name, f"{step.layer.name}_{kind}", kind, qtype)
    else:
        _emit_activation(em, step.layer.name, step.layer.name, step.kind, step.qtype, step.layer)


def _emit_norm_pool(em: _Emitter, step: _Step) -> None:
    """A standalone batchnorm (exact output; cast to act_type later unless a quantizer follows,
    as a float Dense) or a sliding-window pool (exact output: Keras' max / mean of a power-of-two
    window of on-grid values is exact in float32)."""
    em.flush_float()
    name = step.layer.name
    if step.role == "batchnorm":
        em.emit(name, "batchnorm", name, None, **kn.batchnorm_codes(step.layer, em.weight_type))
        em.pending_float = True
        return
    shape = tuple(int(d) for d in step.layer.output_shape[1:])
    em.emit(name, "pool", name, None, shape=shape, **kn.window_pool_attrs(step.layer))


def _emit_dense(em: _Emitter, step: _Step) -> None:
    layer = step.layer
    kq = getattr(layer, "kernel_quantizer_internal", None)
    fw, fb = kl.float_weights(layer)
    if step.bn is not None:
        fw, fb = kl.fold_batchnorm(fw, fb, step.bn)
    if kq is not None:
        w, wt = kl.quantized_constant(layer, np.asarray(kq(layer.kernel)).reshape(fw.shape), "kernel")
    else:
        w, wt = kl.quantize_with(fw, em.weight_type), em.weight_type
    b, bt = _dense_bias(em, layer, fb)
    em.emit(layer.name, "dense", layer.name, None, size=int(w.shape[1]), weight=w,
            weight_type=wt, bias=b, bias_type=bt, accum_type=None)
    em.pending_float = kq is None
    if step.bn is not None:
        em.outputs_of[step.bn.name] = em.current


def _emit_patches(em: _Emitter, layer: Any) -> None:
    """A convolution's windows (wiring); the dense after it maps each window to the filters."""
    attrs = kc.patches_attrs(layer, em.shape)
    shape = kc.patches_shape(layer, em.shape, attrs)
    em.emit(f"{layer.name}_patches", "patches", layer.name, None, shape=shape, **attrs)


def _emit_reshape(em: _Emitter, layer: Any) -> None:
    """Flatten/Reshape: a node only where the per-sample shape changes (a flat input stays)."""
    shape = kc.reshape_target(layer)
    if shape != em.shape:
        em.emit(layer.name, "reshape", layer.name, None, shape=shape, target_shape=shape)


def _dense_bias(em: _Emitter, layer: Any, fb: np.ndarray) -> tuple[np.ndarray, FixedType]:
    bq = getattr(layer, "bias_quantizer_internal", None)
    if layer.use_bias and bq is not None:
        return kl.quantized_constant(layer, np.asarray(bq(layer.bias)), "bias")
    if not np.any(fb):  # no bias: one unsigned zero bit costs nothing
        return np.zeros(fb.shape, dtype=np.int64), FixedType(1, 1, False)
    return kl.quantize_with(fb, em.weight_type), em.weight_type


def _emit_activation(em: _Emitter, keras_name: str, node_name: str, kind: str,
                     qtype: FixedType | None, layer: Any = None) -> None:
    if kind == "linear":
        return
    if kind == "relu":
        # a float relu after a float Dense is where hls4ml would cast to its default
        # result type; after quantized layers the relu output stays exact (QKeras' value)
        ftype = kl.unsigned_variant(em.act_type) if em.pending_float else None
        em.emit(node_name, "relu", keras_name, ftype)
    elif kind == "quant_relu":
        em.emit(node_name, "relu", keras_name, qtype)
    elif kind == "quant":
        em.emit(node_name, "quant", keras_name, qtype)
    elif kind.startswith("leaky_relu:"):  # a float Dense before it: cast to act_type like relu
        em.emit(node_name, "leaky_relu", keras_name, em.act_type if em.pending_float else None,
                shift=int(kind.split(":")[1]))
    elif kind.startswith("table:") or kind == "qtable":   # sigmoid/tanh lookup tables
        kt.emit_table(em, layer, keras_name, node_name, kind)
    em.pending_float = False


# --- agreement with the framework -------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """QKeras forward pass vs the golden interpreter on the same (on-grid) inputs."""

    n_vectors: int
    float_equal: float      # fraction of output elements whose float32 value equals golden
    code_equal: float       # fraction equal after snapping QKeras' float to the output grid
    vector_equal: float     # fraction of vectors whose every output code equals golden
    argmax_equal: float
    max_abs_diff_lsb: float

    def summary(self) -> str:
        return (f"QKeras vs golden on {self.n_vectors} vectors: codes equal {self.code_equal:.4%} "
                f"(vectors {self.vector_equal:.4%}), argmax {self.argmax_equal:.4%}, "
                f"max |diff| {self.max_abs_diff_lsb:.3g} LSB")


def keras_logits(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's pre-softmax output (float64) for real inputs ``x``."""
    import tensorflow as tf

    if keras_graph.is_graph(_strip_pruning(model)):   # x: one array per input; outputs side by side
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        return np.concatenate(keras_graph.graph_logits(_strip_pruning(model), xs, _rules()), axis=1)
    layers = _chain_layers(_strip_pruning(model))
    h = tf.convert_to_tensor(np.asarray(x, dtype=np.float32).reshape((len(x),) + tuple(model.input_shape[1:])))
    for layer in layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if layer is layers[-1] and _is_softmax_layer(layer):
            break
        h = _call_without_softmax(layer, h) if layer is layers[-1] else layer(h, training=False)
    return np.asarray(h, dtype=np.float64).reshape(len(x), -1)


def _softmax_name(last: Any, out_act: str) -> str:
    """Node name of the final softmax kept in firmware (``lower: {output: softmax}``)."""
    if out_act != "softmax":
        raise UnsupportedLayerError(f"lower.output is softmax but the model's last layer {last.name!r} "
                                    f"({type(last).__name__}) ends in no softmax; use output: logits")
    return last.name if _is_softmax_layer(last) else f"{last.name}_softmax"


def _is_softmax_layer(layer: Any) -> bool:
    cls = type(layer).__name__
    return cls == "Softmax" or (cls == "Activation" and layer.get_config()["activation"] == "softmax")


def _call_without_softmax(layer: Any, h: Any) -> Any:
    act = getattr(layer, "activation", None)
    if getattr(act, "__name__", "") != "softmax":
        return layer(h, training=False)
    import tensorflow as tf
    layer.activation = tf.keras.activations.linear
    try:
        return layer(h, training=False)
    finally:
        layer.activation = act


def agreement(model: Any, graph: Graph, x_codes: np.ndarray) -> Agreement:
    """Measure how exactly the lowered graph reproduces the Keras model's logits."""
    tin = graph.tensor(graph.inputs[0]).type
    tout = graph.tensor(graph.outputs[0]).type
    got = keras_logits(model, tin.to_float(x_codes))
    want = run(graph, np.asarray(x_codes, dtype=np.int64))[graph.outputs[0]]
    snapped = FixedType(64, 64 - tout.frac, True, "RND_CONV", "SAT").from_float(got)
    diff = np.abs(snapped - want)
    return Agreement(
        n_vectors=len(x_codes),
        float_equal=float(np.mean(got == tout.to_float(want))),
        code_equal=float(np.mean(diff == 0)),
        vector_equal=float(np.mean(np.all(diff == 0, axis=1))),
        argmax_equal=float(np.mean(np.argmax(got, axis=1) == np.argmax(want, axis=1))),
        max_abs_diff_lsb=float(np.max(np.abs(np.ldexp(got, tout.frac) - want), initial=0.0)),
    )
