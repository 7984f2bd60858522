"""Keras frontend rules for batch normalization left standalone and sliding-window pooling
(``MaxPooling1D/2D``, ``AveragePooling1D/2D``): planning checks and the IR nodes they become.

Batch normalization right after a float Dense with linear activation is folded into its float
weights (:func:`hwai.frontends.keras_layers.fold_scale_shift`) before the weights are quantized;
everywhere else (after an activation, on the input, after a QDense whose weights must stay
on their quantizer grid) it becomes a ``batchnorm`` node: the float per-channel scale and
shift (a QBatchNormalization's parameters through its quantizers first) quantized with
``weight_type`` like a float Dense's weights, its output exact and then, like a float Dense,
cast to ``act_type`` unless a quantizer follows.
"""

from __future__ import annotations

import math
from typing import Any

from hwai.frontends import keras_layers as kl

# Keras pooling class -> pool op mode (hwai/ops/pool.py)
WINDOW_POOL_MODES = {"MaxPooling1D": "max", "MaxPooling2D": "max",
                     "AveragePooling1D": "avg", "AveragePooling2D": "avg"}


def window_pool_attrs(layer: Any) -> dict[str, Any]:
    """The pool op's attributes of a Keras pooling layer; one-line refusals for what is not
    exact on every backend ('same' padding, channels_first, non-power-of-two average windows)."""
    cfg = layer.get_config()
    rank = len(layer.input_shape) - 2
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise kl.unsupported(layer, "pooling with data_format channels_first (use channels_last)")
    if cfg.get("padding", "valid") != "valid":
        raise kl.unsupported(layer, f"pooling with padding {cfg.get('padding')!r} (only 'valid': hls4ml's "
                                    "padded average divides by a non-power-of-two count)")
    size = tuple(int(k) for k in _tuple(cfg["pool_size"], rank))
    stride = tuple(int(k) for k in _tuple(cfg.get("strides") or cfg["pool_size"], rank))
    mode = WINDOW_POOL_MODES[type(layer).__name__]
    n = math.prod(size)
    if mode == "avg" and n & (n - 1):
        raise kl.unsupported(layer, f"average pooling over a {n}-element window (pool_size {size}); "
                                    "use a power-of-two window (e.g. 2, 4 or 2x2) so the division is an exact shift")
    if any(s > d for s, d in zip(size, layer.input_shape[1:-1])):
        raise kl.unsupported(layer, f"pool_size {size} larger than the input {tuple(layer.input_shape[1:-1])}")
    return {"mode": mode, "pool_size": size, "stride": stride}


def _tuple(v: Any, rank: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (list, tuple)) else (int(v),) * rank


def check_global_average(layer: Any) -> None:
    """Global average pooling divides by the position count: exact (a shift) only for 2^k."""
    n = math.prod(int(d) for d in layer.input_shape[1:-1])
    if "Average" in type(layer).__name__ and n & (n - 1):
        raise kl.unsupported(layer, f"global average pooling over {n} positions "
                                    f"{tuple(layer.input_shape[1:-1])}; a power-of-two count is needed "
                                    "(an exact shift): pad or crop the input, or use global max pooling")


def batchnorm_codes(bn: Any, weight_type: Any) -> dict[str, Any]:
    """The batchnorm op's attributes: float scale/shift quantized with ``weight_type``."""
    scale, shift = kl.batchnorm_scale_shift(bn)
    return {"scale": kl.quantize_with(scale, weight_type), "scale_type": weight_type,
            "shift": kl.quantize_with(shift, weight_type), "shift_type": weight_type}
