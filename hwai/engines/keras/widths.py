"""Read quantizer widths off a Keras/QKeras model for reports and resource estimates."""

from __future__ import annotations

from typing import Any

from hwai.engines.keras.models import is_softmax

FLOAT_BITS = 32  # an unquantized float32 tensor


def _bits(quantizer: Any) -> int:
    """Width of a QKeras quantizer object; float32 when the tensor is not quantized."""
    bits = getattr(quantizer, "bits", None)
    return int(bits) if bits is not None else FLOAT_BITS


def _activation_bits(layer: Any) -> int | None:
    """Width of an activation layer (QActivation's quantizer), None if not an activation layer."""
    if layer.weights or "activation" not in layer.get_config():
        return None
    return _bits(getattr(layer, "quantizer", None))


def bit_widths(model: Any) -> dict[str, dict[str, int]]:
    """Per weight layer: ``{'weight', 'bias', 'activation'}`` bits.

    The activation entry is the width of the activation layer that directly follows the
    weight layer (``fc1`` -> ``relu1``), i.e. the width of what ``fc1``'s output becomes in
    hardware; a weight layer not followed by one (the output layer) has no 'activation'.
    A quantizer before the first weight layer (``input_quant``) appears under its own name.
    """
    out: dict[str, dict[str, int]] = {}
    current: str | None = None
    for layer in model.layers:
        if getattr(layer, "kernel", None) is not None:
            current = layer.name
            out[current] = {"weight": _bits(getattr(layer, "kernel_quantizer_internal", None))}
            if getattr(layer, "use_bias", False):
                out[current]["bias"] = _bits(getattr(layer, "bias_quantizer_internal", None))
            continue
        act = _activation_bits(layer)
        if act is not None and current is None and act != FLOAT_BITS:  # e.g. input_quant
            out[layer.name] = {"activation": act}
        elif (act is not None and current is not None and "activation" not in out[current]
              and not is_softmax(layer)):
            out[current]["activation"] = act
    return out
