"""Brevitas / torch frontend: a chain of torch modules -> hwai IR, exactly.

Brevitas quantizer semantics (brevitas 0.13, read from ``core/quant/int_base.py``):
``q = clamp(round(x / scale) + zero_point, min_int, max_int)`` with ``round`` =
``torch.round`` = round-half-to-even (ap_fixed ``RND_CONV``) and a clamp (``SAT``;
``SAT_SYM`` for a signed narrow range). With ``scale = 2**-f`` and zero point 0 that
is exactly an ap_fixed cast into ``f`` fractional bits, which :func:`lower_brevitas`
emits as typed IR nodes. Any other scale cannot be a fixed-point type and is refused.

Handlers are registered by module type (``_HANDLERS``); anything else raises
:class:`UnsupportedLayerError` naming the layer and its type, before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.numeric import DEFAULT_TYPE
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

INPUT_NAME = "input_1"  # Keras' default; hls4ml reserves the layer name "input"
_SKIP = ("Dropout", "Identity", "Flatten")
_OUTPUT_ACTIVATIONS = ("Softmax", "LogSoftmax", "Sigmoid")
_ROUNDING = {"ROUND": "RND_CONV", "FLOOR": "TRN", "ROUND_TO_ZERO": "TRN_ZERO"}
SUPPORTED = ("QuantIdentity", "QuantLinear", "QuantReLU", "Linear", "ReLU") + _SKIP


# --- walking the module -----------------------------------------------------------------

def module_chain(model: Any) -> list[tuple[str, Any]]:
    """The layers of ``model`` in execution order as (dotted name, leaf module).

    ``nn.Sequential`` (nested too) is read directly; other modules are traced with
    torch.fx, which proves the forward is a straight chain; modules fx cannot trace
    (most Brevitas models) fall back to registration order.
    """
    import torch.nn as nn

    if isinstance(model, nn.Sequential):
        return _flatten(model, "")
    if _is_leaf(model):
        return [(type(model).__name__.lower(), model)]
    try:
        return _fx_chain(model)
    except UnsupportedLayerError:
        raise
    except Exception:  # fx cannot trace it (data-dependent control flow, QuantTensors)
        return _flatten(model, "")


def _flatten(mod: Any, prefix: str) -> list[tuple[str, Any]]:
    out = []
    for name, child in mod.named_children():
        full = f"{prefix}{name}"
        out += [(full, child)] if _is_leaf(child) else _flatten(child, full + ".")
    return out


def _is_leaf(mod: Any) -> bool:
    # Brevitas layers own quantizer sub-modules; they are still single layers.
    return not list(mod.children()) or type(mod).__module__.startswith("brevitas.nn")


is_leaf = _is_leaf   # the torch.fx frontend traces with the same leaves


def fx_graph(model: Any) -> Any:
    """``model``'s forward as a torch.fx graph whose call_module nodes are hwai's layers
    (a Brevitas layer stays one node although it owns quantizer sub-modules)."""
    import torch.fx as fx

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return _is_leaf(m)

    return _Tracer().trace(model)


def _fx_chain(model: Any) -> list[tuple[str, Any]]:
    import torch.nn as nn

    graph = fx_graph(model)
    layers: list[tuple[str, Any]] = []
    prev = None
    for node in graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            prev = node if node.op == "placeholder" else prev
            continue
        if node.args and node.args[0] is not prev:
            raise UnsupportedLayerError(f"model {type(model).__name__}: {node.name!r} does not consume "
                                        "the previous layer's output; hwai lowers straight chains only")
        layers.append(_fx_layer(model, node, nn))
        prev = node
    return layers


def _fx_layer(model: Any, node: Any, nn: Any) -> tuple[str, Any]:
    name = str(node.target) if node.op == "call_module" else node.name
    if node.op == "call_module":
        return name, model.get_submodule(node.target)
    fname = getattr(node.target, "__name__", str(node.target))
    if fname in ("relu", "relu_"):
        return name, nn.ReLU()
    if fname in ("flatten", "view", "reshape"):
        return name, nn.Flatten()
    if fname in ("softmax", "log_softmax", "sigmoid"):
        return name, {"softmax": nn.Softmax(-1), "log_softmax": nn.LogSoftmax(-1)}.get(fname, nn.Sigmoid())
    raise UnsupportedLayerError(f"operation {name!r} ({fname}) in {type(model).__name__}.forward is not "
                                f"supported; hwai lowers {', '.join(SUPPORTED)}")


def check_supported(model: Any) -> list[tuple[str, Any]]:
    """Raise UnsupportedLayerError for the first layer hwai cannot lower; return the chain.

    Cheap (no forward pass): the recipe runner calls it before spending training time.
    """
    layers = _strip_output(module_chain(model))
    for name, mod in layers:
        kind = type(mod).__name__
        if kind not in SUPPORTED:
            where = "only as the last layer" if kind in _OUTPUT_ACTIVATIONS else "not"
            raise UnsupportedLayerError(
                f"layer {name!r} of type {kind} is {where} supported by hwai's torch/Brevitas "
                f"frontend (supported: {', '.join(SUPPORTED)}); replace or remove it")
    return layers


def _strip_output(layers: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """hwai lowers pre-softmax outputs: a final Softmax/LogSoftmax/Sigmoid is dropped."""
    if layers and type(layers[-1][1]).__name__ in _OUTPUT_ACTIVATIONS:
        return layers[:-1]
    return layers


# --- quantizer reading -------------------------------------------------------------------

def pow2_frac(scale: Any, where: str) -> np.ndarray:
    """Fractional bits ``f`` with ``scale == 2**-f`` (per element), else UnsupportedLayerError."""
    s = np.asarray(scale.detach().cpu().double().numpy() if hasattr(scale, "detach") else scale,
                   dtype=np.float64).ravel()
    mant, exp = np.frexp(s)
    if np.any(mant != 0.5):
        bad = float(s[np.argmax(mant != 0.5)])
        raise UnsupportedLayerError(
            f"{where}: scale {bad!r} is not a power of two, so it has no fixed-point type; use "
            "power-of-two/fixed-point quantizers (e.g. Int8WeightPerTensorFixedPoint, "
            "Int8ActPerTensorFixedPoint, or restrict_scaling_type=RestrictValueType.POWER_OF_TWO)")
    return (1 - exp).astype(np.int64)


def _zero_point_ok(zp: Any, where: str) -> None:
    z = np.asarray(zp.detach().cpu().double().numpy() if hasattr(zp, "detach") else zp)
    if np.any(z != 0):
        raise UnsupportedLayerError(f"{where}: zero point {float(z.ravel()[0])!r} is not 0; "
                                    "use a symmetric (zero-point-free) Brevitas quantizer")


def act_type(proxy: Any, where: str) -> FixedType:
    """FixedType reproducing a Brevitas activation quantizer (round + clamp)."""
    frac = pow2_frac(proxy.scale(), where)
    if frac.size != 1:
        raise UnsupportedLayerError(f"{where}: per-channel activation scales are not supported")
    _zero_point_ok(proxy.zero_point(), where)
    bits, signed, narrow = int(proxy.bit_width()), bool(proxy.is_signed), bool(proxy.is_narrow_range)
    mode = str(proxy.rounding_mode or "ROUND").split(".")[-1].upper()
    if mode not in _ROUNDING:
        raise UnsupportedLayerError(f"{where}: rounding {mode} has no ap_fixed equivalent "
                                    f"(use {', '.join(_ROUNDING)})")
    if narrow and not signed:
        raise UnsupportedLayerError(f"{where}: unsigned narrow range (max 2^b-2) has no ap_fixed "
                                    "overflow mode; set narrow_range=False")
    return FixedType(bits, bits - int(frac[0]), signed, _ROUNDING[mode], "SAT_SYM" if narrow else "SAT")


def _param_codes(qt: Any, where: str) -> tuple[np.ndarray, FixedType]:
    """Integer codes + type of a quantized parameter; per-channel po2 scales share one grid."""
    frac = pow2_frac(qt.scale, where)
    _zero_point_ok(qt.zero_point, where)
    codes = qt.int().detach().cpu().numpy().astype(np.int64)
    fmax, bits = int(frac.max()), int(qt.bit_width)
    if frac.size > 1:  # per-output-channel: left-shift coarser channels onto the finest grid
        shift = (fmax - frac).reshape(-1, *([1] * (codes.ndim - 1)))
        codes = codes * (1 << shift) if codes.ndim > 1 else codes * (1 << (fmax - frac))
        bits += int(fmax - frac.min())
    return codes, FixedType(bits, bits - fmax, bool(qt.signed))


# --- lowering ---------------------------------------------------------------------------

@dataclass
class _State:
    cur: Tensor
    layers: list[tuple[Node, Tensor]] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    weight_default: FixedType = DEFAULT_TYPE
    act_default: FixedType = DEFAULT_TYPE

    def add(self, name: str, op: str, out_type: FixedType | None, **attrs: Any) -> None:
        node = Node(name, op, (self.cur.name,), (name,), attrs)
        out = Tensor(name, op_of(node).out_shape(node.attrs, self.cur.shape), out_type)
        self.layers.append((node, out))
        self.cur = out


def lower_brevitas(model: Any, *, name: str = "model", input_type: FixedType | None = None,
                   weight_type: FixedType | None = None, activation_type: FixedType | None = None) -> Graph:
    """Lower a torch/Brevitas chain to a typed, validated IR graph of its logits.

    ``input_type``: the firmware's input type. None means the model's leading
    QuantIdentity type (or ap_fixed<16,6,RND_CONV,SAT> for a float model); if given and
    different from the leading quantizer, an explicit ``quant`` node converts it.
    ``weight_type``/``activation_type``: defaults for *float* nn.Linear layers (such
    layers are not bit-exact with torch; they are listed in ``graph.meta['inexact']``).
    """
    import torch

    layers = check_supported(model)
    model = model.eval()
    n_in = _input_width(layers)
    lead = leading_input_type(layers)
    tin = input_type or lead or DEFAULT_TYPE
    st = _State(Tensor(INPUT_NAME, (n_in,), tin), weight_default=weight_type or DEFAULT_TYPE,
                act_default=activation_type or DEFAULT_TYPE)
    with torch.no_grad():
        for lname, mod in layers:
            _HANDLERS[type(mod).__name__](st, lname.replace(".", "_"), mod)
    meta = {"framework": "torch", "frontend": "brevitas", "inexact": st.inexact}
    return infer_precision(chain(name, Tensor(INPUT_NAME, (n_in,), tin), st.layers, meta))


def lower_layer(cur: Tensor, name: str, mod: Any, weight_type: FixedType | None = None,
                activation_type: FixedType | None = None) -> tuple[list[tuple[Node, Tensor]], list[str]]:
    """The IR (node, output) pairs of one supported layer applied to ``cur``, and the layers
    it lowered inexactly (float weights): the per-module conversion the chain and the
    torch.fx frontends share. No pairs: the layer is a no-op on ``cur`` (e.g. Dropout)."""
    import torch

    st = _State(cur, weight_default=weight_type or DEFAULT_TYPE, act_default=activation_type or DEFAULT_TYPE)
    with torch.no_grad():
        _HANDLERS[type(mod).__name__](st, name, mod)
    return st.layers, st.inexact


def _input_width(layers: list[tuple[str, Any]]) -> int:
    import torch.nn as nn

    for _, mod in layers:
        if isinstance(mod, nn.Linear):
            return int(mod.in_features)
    raise UnsupportedLayerError("model has no Linear/QuantLinear layer, nothing to lower")


def leading_input_type(layers: list[tuple[str, Any]]) -> FixedType | None:
    for lname, mod in layers:
        kind = type(mod).__name__
        if kind == "QuantIdentity" and mod.act_quant.is_quant_enabled:
            return act_type(mod.act_quant, f"layer {lname!r} (QuantIdentity)")
        if kind not in _SKIP:
            return None
    return None


def _quant_identity(st: _State, name: str, mod: Any) -> None:
    if not mod.act_quant.is_quant_enabled:
        return
    t = act_type(mod.act_quant, f"layer {name!r} (QuantIdentity)")
    if st.cur.type != t:  # a no-op when it is the graph's own input type
        st.add(name, "quant", t)


def _linear(st: _State, name: str, mod: Any) -> None:
    where = f"layer {name!r} ({type(mod).__name__})"
    _input_quant(st, name, mod, where)
    _dense(st, name, mod, where)


def _input_quant(st: _State, name: str, mod: Any, where: str) -> None:
    if hasattr(mod, "input_quant") and mod.input_quant.is_quant_enabled:
        st.add(name + "_input_quant", "quant", act_type(mod.input_quant, where + " input_quant"))


def _dense(st: _State, name: str, mod: Any, where: str) -> None:
    """The layer's weights as a dense on the last axis (+ its output quantizer); a convolution's
    kernel (F, C, K...) becomes the rows of its windows, (F, K...*C) (:func:`kernel_rows`)."""
    w, tw, qw = _weight(st, name, mod, where)
    b, tb = _bias(st, name, mod, qw, where)
    has_out = hasattr(mod, "output_quant") and mod.output_quant.is_quant_enabled
    out_type = None if qw is not None else st.act_default   # quantized: exact accumulator
    st.add(name, "dense", out_type, weight=kernel_rows(w).T.copy(), weight_type=tw, bias=b, bias_type=tb,
           accum_type=None)
    if has_out:
        st.add(name + "_output_quant", "quant", act_type(mod.output_quant, where + " output_quant"))


def kernel_rows(w: np.ndarray) -> np.ndarray:
    """A Linear weight (F, C) as is; a Conv weight (F, C, K...) as (F, K...*C): a window row of
    the ``patches`` op holds (kernel offset..., channel), channels last."""
    return w if w.ndim == 2 else np.moveaxis(w, 1, -1).reshape(len(w), -1)


def lower_conv(cur: Tensor, name: str, mod: Any, windows: dict[str, Any], weight_type: FixedType | None = None,
               activation_type: FixedType | None = None) -> tuple[list[tuple[Node, Tensor]], list[str]]:
    """A torch/Brevitas Conv1d/Conv2d on the channels-last ``cur``: its input quantizer, the
    ``patches`` node of ``windows`` (kernel, strides, padding) and the dense on every window, as
    :func:`lower_layer` returns them (the torch.fx frontend checks the geometry first)."""
    import torch

    st = _State(cur, weight_default=weight_type or DEFAULT_TYPE, act_default=activation_type or DEFAULT_TYPE)
    where = f"layer {name!r} ({type(mod).__name__})"
    with torch.no_grad():
        _input_quant(st, name, mod, where)
        st.add(name + "_patches", "patches", None, **windows)
        _dense(st, name, mod, where)
    return st.layers, st.inexact


def _weight(st: _State, name: str, mod: Any, where: str) -> tuple[np.ndarray, FixedType, Any]:
    wq = getattr(mod, "weight_quant", None)
    if wq is not None and wq.is_quant_enabled:
        qw = mod.quant_weight()
        codes, tw = _param_codes(qw, where + " weight")
        return codes, tw, qw
    st.inexact.append(name)
    tw = st.weight_default
    return tw.from_float(mod.weight.detach().double().numpy()), tw, None


def _bias(st: _State, name: str, mod: Any, qw: Any, where: str) -> tuple[np.ndarray, FixedType]:
    if mod.bias is None:
        return np.zeros(len(mod.weight), dtype=np.int64), FixedType(1, 1, True)
    bq = getattr(mod, "bias_quant", None)
    if qw is not None and bq is not None and bq.is_quant_enabled:
        # e.g. Int32Bias: scale = input scale * weight scale
        qb = bq(mod.bias, _dummy_input(st.cur.type, mod), qw) if bq.requires_input_scale else mod.quant_bias()
        return _param_codes(qb, where + " bias")
    if name not in st.inexact:
        st.inexact.append(name)
    tb = st.weight_default
    return tb.from_float(mod.bias.detach().double().numpy()), tb


def _dummy_input(t: FixedType, mod: Any) -> Any:
    """A QuantTensor carrying the incoming type's scale, for bias quantizers that need it."""
    import torch
    from brevitas.quant_tensor import IntQuantTensor

    dt = mod.weight.dtype
    return IntQuantTensor(torch.zeros(1, mod.weight.shape[1], dtype=dt), torch.tensor(2.0 ** -t.frac, dtype=dt),
                          torch.tensor(0.0, dtype=dt), torch.tensor(float(t.width), dtype=dt), t.signed, False)


def _quant_relu(st: _State, name: str, mod: Any) -> None:
    if not mod.act_quant.is_quant_enabled:
        return _relu(st, name, mod)
    st.add(name, "relu", act_type(mod.act_quant, f"layer {name!r} (QuantReLU)"))


def _relu(st: _State, name: str, mod: Any) -> None:
    st.add(name, "relu", None)  # exact: ReLU of a typed value needs no rounding


def _skip(st: _State, name: str, mod: Any) -> None:
    return None


_HANDLERS: dict[str, Callable[[_State, str, Any], None]] = {
    "QuantIdentity": _quant_identity, "QuantLinear": _linear, "Linear": _linear,
    "QuantReLU": _quant_relu, "ReLU": _relu, **dict.fromkeys(_SKIP, _skip),
}


# --- the framework side of the exactness check ---------------------------------------------

def reference_codes(model: Any, graph: Graph, x: np.ndarray) -> np.ndarray:
    """The model's logits as integer codes of the graph's output type, computed in float64.

    torch accumulates in float32 (24-bit mantissa), but a 16-bit input times a 6-bit
    weight summed over 64 inputs needs ~28 bits: float32 can round the sum, float64
    (53 bits) cannot. So the model is copied to double; the codes must be integers.
    """
    return reference_outputs(model, graph, [x])[0]


def reference_outputs(model: Any, graph: Graph, xs: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`reference_codes` for a model with several inputs (``xs``, one real array per
    ``forward`` argument, in order) and outputs (a tuple, in the order of ``graph.outputs``)."""
    import copy

    import torch

    m = copy.deepcopy(model).double().eval()
    args = [torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in xs]
    with torch.no_grad():
        out = m(*args)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [_grid_codes(graph, name, getattr(y, "value", y).numpy()) for name, y in zip(graph.outputs, outs)]


def _grid_codes(graph: Graph, name: str, y: np.ndarray) -> np.ndarray:
    codes, ok = graph.tensor(name).type.grid_codes(y.reshape(len(y), -1))
    if not np.all(ok):
        raise UnsupportedLayerError(f"model output {name!r} is not on its output type's grid; "
                                    "is a float (unquantized) layer in the model?")
    return codes
