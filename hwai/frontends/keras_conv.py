"""Keras/QKeras convolutions and Flatten/Reshape for the Keras frontend.

``Conv1D``/``Conv2D`` (and ``QConv1D``/``QConv2D``) become a ``patches`` node (the kernel
windows, :mod:`hwai.ops.patches`) and a per-window ``dense`` with the kernel reshaped
(K..., C, F) -> (K*C, F); the dense and its activation are then lowered exactly as a
Dense layer's. Supported: channels_last, stride >= 1, padding 'valid'/'same', bias or not;
dilation, groups and 'causal' padding are refused in one line. Flatten/Reshape become a
``reshape`` node (no data movement) where the shape changes.
"""

from __future__ import annotations

import math
from typing import Any

from hwai.frontends import keras_layers as kl
from hwai.ir.types import FixedType
from hwai.ir.windows import same_padding

PADDINGS = ("valid", "same")


def conv_activation(layer: Any) -> tuple[str, FixedType | None]:
    """Check a convolution's configuration (one line naming the layer otherwise) and classify
    its own activation, as for a Dense."""
    cfg = layer.get_config()
    rank = len(cfg["kernel_size"])
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise kl.unsupported(layer, "data_format channels_first (use channels_last)")
    if str(cfg.get("padding")).lower() not in PADDINGS:
        raise kl.unsupported(layer, f"padding {cfg.get('padding')!r} (supported: 'valid', 'same')")
    if any(int(d) != 1 for d in _tuple(cfg.get("dilation_rate", 1), rank)):
        raise kl.unsupported(layer, f"dilation_rate {cfg.get('dilation_rate')} (supported: 1)")
    if int(cfg.get("groups", 1)) != 1:
        raise kl.unsupported(layer, f"groups={cfg.get('groups')} (supported: 1)")
    for attr in ("kernel_quantizer_internal", "bias_quantizer_internal"):
        q = getattr(layer, attr, None)
        if q is not None:
            kl.check_alpha(layer, q, allow_auto_po2=True)
    return kl.activation_kind(layer, layer.activation)


def patches_attrs(layer: Any, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Kernel, strides and padding of the layer's windows over an input of ``in_shape``."""
    cfg = layer.get_config()
    rank = len(cfg["kernel_size"])
    kernel, strides = _tuple(cfg["kernel_size"], rank), _tuple(cfg["strides"], rank)
    if str(cfg["padding"]).lower() == "same":
        pads = [same_padding(n, k, s) for n, k, s in zip(in_shape[:-1], kernel, strides)]
    else:
        pads = [(0, 0)] * rank
    return {"kernel": kernel, "strides": strides, "pad_before": tuple(p[0] for p in pads),
            "pad_after": tuple(p[1] for p in pads), "in_shape": tuple(in_shape)}


def patches_shape(layer: Any, in_shape: tuple[int, ...], attrs: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The windows' shape: Keras' output positions, each a kernel window of every channel (the
    patches op checks that its own rule gives the same positions)."""
    spatial = tuple(int(d) for d in layer.output_shape[1:-1])
    if len(in_shape) != len(attrs["kernel"]) + 1:
        raise kl.unsupported(layer, f"a convolution of a {in_shape} input (channels_last, one spatial "
                                    "axis per kernel entry)")
    return spatial + (math.prod(attrs["kernel"]) * int(in_shape[-1]),)


def reshape_target(layer: Any) -> tuple[int, ...]:
    """Flatten/Reshape: the per-sample output shape."""
    return tuple(int(d) for d in layer.output_shape[1:])


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),) * rank
