"""Per-layer translation rules for the Keras/QKeras frontend.

Everything here works on one Keras layer at a time and knows the exact numerics of
QKeras 0.9 (``qkeras/quantizers.py``): which quantizer configurations are a plain
``ap_fixed`` cast and which are not. :mod:`hwai.frontends.keras` walks the model and
strings the results together.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.ir import tables
from hwai.ir.numeric import type_for_range
from hwai.ir.types import FixedType, frac_bits_needed

TABLE_FUNCTIONS = tuple(tables.FUNCTIONS)                                    # float activations hwai tabulates
TABLE_QUANTIZERS = ("quantized_tanh", "quantized_sigmoid", "hard_sigmoid")   # QKeras, tabulated exactly

# Keras class name -> role. The frontend checks every layer against this table before
# doing any work, so an unsupported layer fails fast (DESIGN: "raised before any
# training time is spent").
SUPPORTED = {
    "InputLayer": "skip", "Dropout": "skip", "Flatten": "reshape", "Reshape": "reshape",
    "Conv1D": "conv", "Conv2D": "conv", "QConv1D": "conv", "QConv2D": "conv",
    "Dense": "dense", "QDense": "dense",
    "Activation": "activation", "ReLU": "activation", "Softmax": "activation",
    "QActivation": "activation", "BatchNormalization": "batchnorm", "LeakyReLU": "activation",
    "GlobalAveragePooling1D": "pool", "GlobalMaxPooling1D": "pool",
    "GlobalAveragePooling2D": "pool", "GlobalMaxPooling2D": "pool",
    "QBatchNormalization": "batchnorm",
    "MaxPooling1D": "window_pool", "MaxPooling2D": "window_pool",
    "AveragePooling1D": "window_pool", "AveragePooling2D": "window_pool",
    "SumSquares": "score",   # hwai's anomaly score layer (hwai/engines/keras/anomaly.py)
}
# Keras pooling class -> global_pool mode (hwai/ops/global_pool.py)
POOL_MODES = {"GlobalAveragePooling1D": "avg", "GlobalMaxPooling1D": "max",
              "GlobalAveragePooling2D": "avg", "GlobalMaxPooling2D": "max"}

# Widest weight code we accept as "on a power-of-two grid": QKeras weights have at most
# ``bits`` bits; a float32 value that needs more is a non-po2 scale in disguise.
MAX_WEIGHT_BITS = 32


def unsupported(layer: Any, why: str = "") -> UnsupportedLayerError:
    """One-line error naming the layer, its class and what hwai supports."""
    cls = type(layer).__name__
    kinds = ", ".join(sorted(SUPPORTED))
    reason = f": {why}" if why else ""
    return UnsupportedLayerError(
        f"layer {layer.name!r} ({cls}) is not supported{reason}; supported layer types: {kinds}")


# --- activations --------------------------------------------------------------

def activation_kind(layer: Any, act: Any) -> tuple[str, FixedType | None]:
    """Classify an activation (function, name or QKeras quantizer).

    Returns (kind, type) with kind in ``linear | relu | softmax | quant | quant_relu |
    table:<function> | qtable`` (lookup tables: :mod:`hwai.frontends.keras_tables`);
    ``type`` is the exact ap_fixed equivalent of a QKeras quantizer.
    """
    if act is None:
        return "linear", None
    if isinstance(act, str):
        return _named_activation(layer, act)
    cls = type(act).__name__
    if cls == "quantized_relu":
        return "quant_relu", quantized_relu_type(layer, act)
    if cls == "quantized_bits":
        return "quant", quantized_bits_type(layer, act)
    if cls in TABLE_QUANTIZERS:     # tabulated exactly over its input codes (keras_tables)
        check_deterministic(layer, act)
        return "qtable", None
    name = getattr(act, "__name__", None)
    if name is not None and not hasattr(act, "get_config"):
        return _named_activation(layer, name)
    raise unsupported(layer, f"activation quantizer {cls} has no exact fixed-point equivalent "
                             "(use quantized_relu, quantized_bits, quantized_tanh or quantized_sigmoid)")


def _named_activation(layer: Any, name: str) -> tuple[str, None]:
    if name in ("linear", "relu", "softmax"):
        return name, None
    if name in TABLE_FUNCTIONS:         # float sigmoid/tanh: hwai's lookup table
        return f"table:{name}", None
    if name in TABLE_QUANTIZERS:        # hard_sigmoid: tabulated over its input codes
        return "qtable", None
    raise unsupported(layer, f"activation {name!r} (supported: linear, relu, softmax, "
                             f"{', '.join(TABLE_FUNCTIONS)}, hard_sigmoid)")


def relu_layer_ok(layer: Any) -> None:
    """``keras.layers.ReLU`` is only a plain relu with its default arguments."""
    cfg = layer.get_config()
    if cfg.get("max_value") is not None or float(cfg.get("negative_slope", 0.0)) != 0.0 \
            or float(cfg.get("threshold", 0.0)) != 0.0:
        raise unsupported(layer, "ReLU with max_value/negative_slope/threshold")


def leaky_shift(layer: Any) -> int:
    """``LeakyReLU(alpha=2**-k)``: k (hwai's ``leaky_relu`` is exact only for such slopes)."""
    cfg = layer.get_config()
    alpha = float(cfg.get("alpha", cfg.get("negative_slope", 0.3)))
    k = -math.log2(alpha) if 0.0 < alpha < 1.0 else 0.0
    if k < 1 or k != int(k):
        raise unsupported(layer, f"LeakyReLU alpha {alpha} is not a power of two 2**-k, k >= 1 "
                                 "(use e.g. alpha=0.125)")
    return int(k)


def check_deterministic(layer: Any, q: Any) -> None:
    """A quantizer without stochastic rounding or noise: a fixed function of its input."""
    _common_quantizer_checks(layer, q)


def _common_quantizer_checks(layer: Any, q: Any) -> None:
    if getattr(q, "use_stochastic_rounding", False):
        raise unsupported(layer, "stochastic rounding has no hardware equivalent")
    if float(getattr(q, "qnoise_factor", 1.0)) != 1.0:
        raise unsupported(layer, "qnoise_factor != 1 leaves values off the grid")


def quantized_relu_type(layer: Any, q: Any) -> FixedType:
    """``quantized_relu(bits, integer)`` == ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``.

    QKeras: ``xq = m_i * clip(round(x * m / m_i) / m, 0, 1 - 1/m)`` with ``m = 2**bits``,
    ``m_i = 2**integer``; ``tf.round`` rounds half to even (RND_CONV), the clip saturates.
    """
    _common_quantizer_checks(layer, q)
    if float(q.negative_slope) != 0.0 or q.use_sigmoid or q.relu_upper_bound is not None:
        raise unsupported(layer, "quantized_relu with negative_slope/use_sigmoid/relu_upper_bound")
    return FixedType(int(q.bits), int(q.integer), False, "RND_CONV", "SAT")


def quantized_bits_type(layer: Any, q: Any) -> FixedType:
    """Exact ap_fixed equivalent of a QKeras ``quantized_bits`` used on activations.

    QKeras: ``p = x * m / m_i``; ``xq = m_i * clip(round(p), keep_negative*(-m + symmetric),
    m - 1) / m`` with ``m = 2**(bits - keep_negative)``, ``m_i = 2**integer`` — a cast with
    ``bits - keep_negative - integer`` fractional bits (QKeras' integer excludes the sign).
    ``symmetric`` drops the most negative code: that is AP_SAT_SYM.
    """
    _common_quantizer_checks(layer, q)
    check_alpha(layer, q, allow_auto_po2=False)
    signed = bool(q.keep_negative)
    bits, integer = int(q.bits), int(q.integer)
    if bits - int(signed) <= 0:
        raise unsupported(layer, "1-bit quantized_bits is a sign function, not a cast")
    overflow = "SAT_SYM" if (signed and q.symmetric) else "SAT"
    return FixedType(bits, integer + int(signed), signed, "RND_CONV", overflow)


def check_alpha(layer: Any, q: Any, allow_auto_po2: bool) -> None:
    """Only power-of-two scales are fixed-point; say what to use instead."""
    alpha = getattr(q, "alpha", None)
    hint = "use alpha=1 or alpha='auto_po2'" if allow_auto_po2 else "use alpha=1"
    if alpha is None:
        return
    if isinstance(alpha, str):
        if alpha == "auto_po2" and allow_auto_po2:
            return
        raise unsupported(layer, f"quantizer alpha={alpha!r} is not a power-of-two scale; {hint}")
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(a <= 0) or np.any(np.log2(a) != np.round(np.log2(a))):
        raise unsupported(layer, f"quantizer alpha={alpha!r} is not a power-of-two scale; {hint}")
    if not allow_auto_po2 and np.any(a != 1):
        raise unsupported(layer, f"activation quantizer alpha={alpha!r}; {hint}")


# --- weights ------------------------------------------------------------------

def quantized_constant(layer: Any, values: np.ndarray, what: str) -> tuple[np.ndarray, FixedType]:
    """Integer codes + the minimal exact FixedType of already-quantized weights."""
    try:
        frac = frac_bits_needed(values)
    except ValueError:
        raise unsupported(layer, f"{what} values are not on a power-of-two grid; "
                                 "use alpha=1 or alpha='auto_po2'") from None
    codes = np.ldexp(np.asarray(values, dtype=np.float64), frac)
    codes = codes.astype(np.int64)
    ftype = type_for_range(int(codes.min(initial=0)), int(codes.max(initial=0)), frac)
    if ftype.width > MAX_WEIGHT_BITS:
        raise unsupported(layer, f"{what} needs {ftype.width} bits: a non-power-of-two scale "
                                 "(alpha='auto'?); use alpha=1 or alpha='auto_po2'")
    return codes, ftype


def float_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float kernel (n_in, n_out) and bias of a Dense (zeros without bias); a convolution's
    kernel (K..., C, F) as (K*C, F), the dense on its windows."""
    w = np.asarray(layer.kernel, dtype=np.float64)
    w = w.reshape(-1, w.shape[-1])
    b = np.asarray(layer.bias, dtype=np.float64) if layer.use_bias else np.zeros(w.shape[1])
    return w, b


def fold_batchnorm(w: np.ndarray, b: np.ndarray, bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fold an inference-mode BatchNormalization into the preceding Dense (float level)."""
    return fold_scale_shift(w, b, *batchnorm_scale_shift(bn))


def fold_scale_shift(w: np.ndarray, b: np.ndarray, scale: np.ndarray,
                     shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold a per-output-channel ``y * scale + shift`` into a linear layer's float weights:
    ``x@(W*s) + (b*s + shift)``. ``w``'s last axis is the output channel (a Dense kernel
    (n_in, n_out) or a Conv kernel (..., c_in, c_out)), so Dense and Conv fold alike. With
    ``scale, shift = batchnorm_scale_shift(bn)`` this is QKeras' own rule in QConv2DBatchnorm
    (``inv * kernel``, ``inv * (bias - mean) + beta``), which then quantizes the folded kernel
    and bias with the layer's quantizers; float layers quantize them with ``weight_type``."""
    return w * scale, b * scale + shift


def batchnorm_scale_shift(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inference-mode (Q)BatchNormalization as float64 per-channel ``scale``, ``shift``:
    y = gamma * (x - mean) / sqrt(var + eps) + beta = x * scale + shift. A QBatchNormalization's
    parameters pass through its own quantizers first (what QKeras' forward pass uses)."""
    cfg = bn.get_config()
    axis = cfg.get("axis", -1)
    axes = [int(a) for a in axis] if hasattr(axis, "__iter__") else [int(axis)]   # int, list or ListWrapper
    rank = len(bn.input_shape) - 1
    if axes not in ([-1], [rank]):
        shown = axes[0] if len(axes) == 1 else tuple(axes)
        raise unsupported(bn, f"batch normalization over axis {shown} (only the last, channel axis)")
    if cfg.get("renorm"):
        raise unsupported(bn, "batch renormalization")
    mean = _bn_param(bn, "moving_mean", "mean_quantizer_internal")
    var = _bn_param(bn, "moving_variance", "variance_quantizer_internal")
    gamma = _bn_param(bn, "gamma", "gamma_quantizer_internal") if bn.scale else 1.0
    beta = _bn_param(bn, "beta", "beta_quantizer_internal") if bn.center else 0.0
    scale = gamma / np.sqrt(var + float(bn.epsilon))
    return np.broadcast_to(scale, mean.shape).astype(np.float64), beta - mean * scale


def _bn_param(bn: Any, name: str, quantizer: str) -> np.ndarray:
    value = getattr(bn, name)
    q = getattr(bn, quantizer, None)
    return np.asarray(q(value) if q is not None else value, dtype=np.float64)


def quantize_with(values: np.ndarray, ftype: FixedType) -> np.ndarray:
    """Codes of float weights in the user's weight type (its rounding/overflow apply)."""
    return np.asarray(ftype.from_float(values), dtype=np.int64)


def unsigned_variant(t: FixedType) -> FixedType:
    """Same width and integer bits, unsigned: the output type of a float relu."""
    return FixedType(t.width, t.integer, False, t.rounding, t.overflow)


def flat_size(shape: Any) -> int:
    """Per-sample size of a Keras shape (batch axis dropped)."""
    dims = [int(d) for d in tuple(shape)[1:]]
    return int(math.prod(dims)) if dims else 1
