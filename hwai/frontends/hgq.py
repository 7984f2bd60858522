"""HGQ proxy models -> typed hwai IR, exactly.

``HGQ.to_proxy_model`` (HGQ 0.2.6) hands a trained HGQ model to hls4ml as plain Keras
``Dense`` / ``ReLU`` (or ``Activation('relu')``) layers with ``FixedPointQuantizer`` layers
in between. A quantizer carries one fixed-point type per element (``keep_negative``,
``bits``, ``integers``: ``ap_fixed<bits, integers>``, unsigned when keep_negative is 0, the
constant 0 when bits is 0) and one rounding/overflow mode pair. ``gfixed_quantizer``
computes ``sat(rnd(x * 2**f)) / 2**f`` with ap_fixed's definitions of every mode but
``WRAP_SM`` (HGQ's reflective wrap is not ap_fixed's sign-magnitude wrap), so each
quantizer becomes a per-element ``quant`` node and each Dense a ``dense`` node whose
weights keep their own types (``weight_widths`` / ``weight_integers``, width 0 = pruned).
The Dense accumulators and the relu outputs are left to :func:`infer_precision`, which
types them exactly, as for QKeras models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.frontends import keras_layers as kl
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.numeric import covering_type, type_for_range
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hwai.names import fresh, identifier
from hwai.passes.precision import infer_precision

# proxy layer class -> role; anything else is rejected by name before any work
ROLES = {"InputLayer": "skip", "Dropout": "skip", "Flatten": "skip", "Dense": "dense",
         "Activation": "activation", "ReLU": "activation", "FixedPointQuantizer": "quant"}
SUPPORTED_TEXT = "Dense, ReLU / Activation('relu'), FixedPointQuantizer, a final softmax"
INPUT_QUANT = "input_quant"   # the learned input quantizer's node name (IR convention)


def is_hgq_model(model: Any) -> bool:
    """A model with HGQ layers: a proxy (FixedPointQuantizer) or an HGQ training model."""
    return any(type(l).__module__.startswith("HGQ.") for l in model.layers)


def _is_hgq_training_layer(layer: Any) -> bool:
    return type(layer).__module__.startswith("HGQ.layers")


def unsupported(layer: Any, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}) is not supported in an HGQ "
                                 f"proxy model: {why}; hwai lowers {SUPPORTED_TEXT}")


def check_supported(layers: list[Any]) -> None:
    """Raise for the first layer of the chain :func:`lower_hgq` cannot lower exactly
    (no numeric work: the recipe runner calls it before any training)."""
    _plan(layers)


# --- planning -------------------------------------------------------------------

def _plan(layers: list[Any]) -> tuple[list[tuple[str, Any, str]], str]:
    """(role, layer, activation kind) per layer; a final softmax is dropped (logits out)."""
    for layer in layers:
        _check_class(layer)
    plan = [(ROLES[type(l).__name__], l, _kind(l)) for l in layers if ROLES[type(l).__name__] != "skip"]
    out_act = "linear"
    if plan and plan[-1][2] == "softmax":
        role, layer, _ = plan[-1]
        plan = plan[:-1] if role == "activation" else plan[:-1] + [(role, layer, "linear")]
        out_act = "softmax"
    for _, layer, kind in plan:
        if kind == "softmax":
            raise unsupported(layer, "softmax is supported only as the last layer")
    return plan, out_act


def _check_class(layer: Any) -> None:
    cls = type(layer).__name__
    if _is_hgq_training_layer(layer):
        raise unsupported(layer, "an HGQ training layer; give hwai the proxy model "
                                 "(HGQ.trace_minmax on training data, then HGQ.to_proxy_model)")
    if cls not in ROLES:
        raise unsupported(layer, "no exact fixed-point lowering")
    if cls == "FixedPointQuantizer":
        _check_modes(layer)


def _check_modes(layer: Any) -> None:
    if layer.RND not in ROUNDING_MODES:
        raise unsupported(layer, f"rounding mode {layer.RND!r} has no ap_fixed equivalent "
                                 f"(use one of {', '.join(ROUNDING_MODES)})")
    if layer.SAT not in OVERFLOW_MODES:
        raise unsupported(layer, f"overflow mode {layer.SAT!r} is not ap_fixed's "
                                 f"(use one of {', '.join(OVERFLOW_MODES)})")


def _kind(layer: Any) -> str:
    """linear | relu | softmax for Dense/Activation/ReLU layers; 'quant' otherwise."""
    cls = type(layer).__name__
    if cls == "ReLU":
        kl.relu_layer_ok(layer)
        return "relu"
    if cls in ("Dense", "Activation"):
        kind, _ = kl.activation_kind(layer, layer.get_config()["activation"])
        if kind not in ("linear", "relu", "softmax"):   # lookup tables: the plain Keras frontend only
            name = layer.get_config()["activation"]
            raise unsupported(layer, f"activation {name!r} in an HGQ proxy model (supported there: "
                                     "linear, relu, a final softmax)")
        return kind
    return "quant"


# --- per-element types -------------------------------------------------------------

def quantizer_bits(layer: Any) -> np.ndarray:
    """Widths of a FixedPointQuantizer, one per element (flattened; batch axis dropped)."""
    return np.asarray(layer.bits.numpy(), dtype=np.int64).reshape(-1)


def quantizer_types(layer: Any, size: int) -> tuple[FixedType, dict[str, np.ndarray]]:
    """Output type and ``quant`` attrs of a FixedPointQuantizer over ``size`` elements.

    One type for every element -> a plain quant (no attrs); otherwise per-element
    ``widths`` / ``integers`` / ``signed`` and the covering output type.
    """
    k, b, i = (np.broadcast_to(np.asarray(v.numpy(), dtype=np.int64).reshape(-1), (size,))
               for v in (layer.keep_negative, layer.bits, layer.integers))
    if np.all(b == b[0]) and np.all(i == i[0]) and np.all(k == k[0]) and b[0] > 0:
        return FixedType(int(b[0]), int(i[0]), bool(k[0]), layer.RND, layer.SAT), {}
    attrs = {"widths": b.copy(), "integers": i.copy(), "signed": k.astype(bool)}
    return covering_type(b, i, k.astype(bool), layer.RND, layer.SAT), attrs


def weight_types(layer: Any) -> tuple[np.ndarray, FixedType, np.ndarray, np.ndarray]:
    """Codes on the common grid, common type, and each weight's own signed type.

    A weight's type is the narrowest ``ap_fixed<W, I>`` holding its value exactly (its
    lowest set bit fixes the fraction, its magnitude the width); a zero weight has width 0.
    HGQ quantizes each weight on its own grid, so the values are all hwai needs.
    """
    w = np.asarray(layer.kernel, dtype=np.float64)
    codes, wtype = kl.quantized_constant(layer, w, "kernel")
    tz = _trailing_zeros(codes)
    own = np.right_shift(codes, tz)                     # odd code on the weight's own grid
    widths = np.where(codes != 0, _signed_width(own), 0)
    integers = np.where(codes != 0, widths - (wtype.frac - tz), 0)
    signed_type = type_for_range(int(codes.min(initial=0)), int(codes.max(initial=0)), wtype.frac,
                                 force_signed=True)
    return codes, signed_type, widths.astype(np.int64), integers.astype(np.int64)


def _trailing_zeros(codes: np.ndarray) -> np.ndarray:
    low = np.where(codes != 0, codes & -codes, 1)        # lowest set bit (two's complement)
    return np.round(np.log2(np.abs(low).astype(np.float64))).astype(np.int64)


def _signed_width(q: np.ndarray) -> np.ndarray:
    """Two's-complement bits of each integer (``numeric.signed_bits`` elementwise)."""
    mag = np.where(q < 0, -q - 1, q).astype(np.float64)
    return np.where(mag > 0, np.frexp(mag)[1], 0) + 1


# --- lowering -------------------------------------------------------------------------

def lower_hgq(model: Any, layers: list[Any], input_type: FixedType, *, input_name: str,
              name: str = "model") -> Graph:
    """Lower an HGQ proxy model (its ``layers`` in chain order) to a typed IR graph.

    Outputs are pre-softmax logits. ``input_type`` types the graph input (the recipe's
    ``lower.input``); the proxy's first quantizer becomes the per-element ``input_quant``
    node right after it. Called by :func:`hwai.frontends.keras.lower_keras`.
    """
    plan, out_act = _plan(layers)
    in_name = identifier(input_name)
    size = kl.flat_size(model.input_shape)
    steps: list[tuple[Node, Tensor]] = []
    names: dict[str, str] = {}
    current = in_name
    for role, layer, kind in plan:
        for node, tensor in _lower_layer(role, layer, kind, current, size, not steps, names):
            steps.append((node, tensor))
            names[node.name] = layer.name
            current, size = node.name, tensor.shape[-1]
    meta = {"framework": "keras", "frontend": "hgq", "output_activation": out_act, "layers": dict(names),
            "keras_outputs": {k: n for n, k in names.items()}, "keras_model": model.name}
    return infer_precision(chain(name, Tensor(in_name, (kl.flat_size(model.input_shape),), input_type),
                                 steps, meta))


def _lower_layer(role: str, layer: Any, kind: str, current: str, size: int, first: bool,
                 taken: dict[str, str]) -> list[tuple[Node, Tensor]]:
    name = fresh(INPUT_QUANT if first and role == "quant" else identifier(layer.name), set(taken))
    if role == "quant":
        ftype, attrs = quantizer_types(layer, size)
        return [(Node(name, "quant", (current,), (name,), attrs), Tensor(name, (size,), ftype))]
    if role == "activation":
        return [_relu(name, current, size)] if kind == "relu" else []
    out = [_dense(layer, name, current)]
    if kind == "relu":
        relu = fresh(f"{name}_relu", set(taken) | {name})
        out.append(_relu(relu, name, int(layer.units)))
    return out


def _relu(name: str, current: str, size: int) -> tuple[Node, Tensor]:
    return Node(name, "relu", (current,), (name,), {}), Tensor(name, (size,), None)


def _dense(layer: Any, name: str, current: str) -> tuple[Node, Tensor]:
    codes, wtype, widths, integers = weight_types(layer)
    bias, btype = _bias(layer)
    attrs = {"weight": codes, "weight_type": wtype, "weight_widths": widths, "weight_integers": integers,
             "bias": bias, "bias_type": btype, "accum_type": None}
    return Node(name, "dense", (current,), (name,), attrs), Tensor(name, (int(codes.shape[1]),), None)


def _bias(layer: Any) -> tuple[np.ndarray, FixedType]:
    _, fb = kl.float_weights(layer)
    if not np.any(fb):  # no bias: one unsigned zero bit costs nothing (as the Keras frontend)
        return np.zeros(fb.shape, dtype=np.int64), FixedType(1, 1, False)
    return kl.quantized_constant(layer, fb, "bias")
