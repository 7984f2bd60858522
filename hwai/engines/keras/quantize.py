"""Float (possibly pruned) Keras model -> QKeras quantization-aware model.

Each Dense becomes a QDense with ``quantized_bits(bits, integer, alpha=1)`` kernel and
bias quantizers; each hidden ReLU a ``QActivation(quantized_relu(bits, integer))``; the
final softmax stays a plain ``Activation`` (lowering drops it). ``alpha=1`` fixes the
quantizer scale to a power-of-two grid, which is what makes the QKeras forward pass
representable exactly as ``ap_fixed`` (QKeras' default auto-scale is not).

Pruned zeros are kept with tfmot's ``ConstantSparsity`` wrapper at each layer's achieved
sparsity rather than a custom kernel-mask constraint: the masked weights are re-zeroed by
the library after every step, ``strip_pruning`` leaves ordinary QDense layers (no custom
object to serialize or for the frontend to understand), and it is the mechanism the
hls4ml tutorial uses for pruned QAT.
"""

from __future__ import annotations

import sys
from typing import Any

from hwai.data.dataset import Dataset
from hwai.engines.core import FINETUNE_EPOCHS, QSPEC_DEFAULT, qspec, resolve_layer_specs, train_config
from hwai.engines.keras.anomaly import SCORE_LAYER, fit_for, score_layers
from hwai.engines.keras.conv import CONV_CLASSES, qconv
from hwai.engines.keras.models import (
    activation_name,
    canonicalize,
    chain_layers,
    copy_weights,
    is_softmax,
    rebuild_chain,
)
from hwai.engines.keras.prune import constant_masks, kernel_sparsity, private_copy, wrap_layers
from hwai.errors import HwaiError, UnsupportedLayerError


def layer_specs(model: Any, cfg: dict) -> dict[str, dict]:
    """Per-layer quantizer specs (:func:`hwai.engines.core.resolve_layer_specs`): weight
    layers -> {weight, bias, activation}, ReLUs -> {activation}, each {bits, integer}."""
    kinds = [(l.name, "weight" if getattr(l, "kernel", None) is not None else "relu" if _is_relu(l) or _is_score(l)
              else "other", _source(l)) for l in chain_layers(model)]
    return resolve_layer_specs(kinds, cfg)


def _source(layer: Any) -> str | None:
    """The layer whose output ``layer`` reads (one input), or None (several, or not wired)."""
    try:
        history = getattr(layer.input, "_keras_history", None)
    except AttributeError:   # not called yet, or a shared layer
        return None
    return None if history is None else history.layer.name


def _is_relu(layer: Any) -> bool:
    return not layer.weights and "relu" in activation_name(layer)


def _is_score(layer: Any) -> bool:
    """The anomaly score Σ z²: its input quantizer takes an activation spec, as a ReLU's output does."""
    return type(layer).__name__ == SCORE_LAYER


def quantized_layers(layer: Any, spec: dict | None) -> list[Any]:
    """The QKeras replacement(s) for one float layer."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    if getattr(layer, "kernel", None) is not None and type(layer).__name__ in ("Dense", "QDense"):
        w, b = spec["weight"], spec["bias"]
        return [QDense(layer.units, use_bias=layer.use_bias, name=layer.name,
                       kernel_quantizer=quantized_bits(w["bits"], w["integer"], alpha=1),
                       bias_quantizer=quantized_bits(b["bits"], b["integer"], alpha=1))]
    if getattr(layer, "kernel", None) is not None and type(layer).__name__ in CONV_CLASSES:
        w, b = spec["weight"], spec["bias"]
        return [qconv(layer, quantized_bits(w["bits"], w["integer"], alpha=1),
                      quantized_bits(b["bits"], b["integer"], alpha=1))]
    if type(layer).__name__ in ("Flatten", "Reshape"):
        return [type(layer).from_config(layer.get_config())]   # layout only
    if _is_score(layer):
        return score_layers(layer, spec)
    if spec is not None:  # a ReLU
        a = spec["activation"]
        return [QActivation(quantized_relu(a["bits"], a["integer"]), name=layer.name)]
    if is_softmax(layer):
        return [tf.keras.layers.Activation("softmax", name=layer.name)]
    if type(layer).__name__ == "QActivation" and activation_name(layer) == "quantized_bits":
        return [type(layer).from_config(layer.get_config())]  # an existing input/requant quantizer: keep
    if type(layer).__name__ in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return [type(layer).from_config(layer.get_config())]   # no weights, exact on grid values
    if type(layer).__name__ == "Dropout":
        return []  # identity at inference; QAT fine-tuning does not need it
    raise UnsupportedLayerError(f"quantize: layer '{layer.name}' ({type(layer).__name__}) is not supported; "
                                "hwai QAT converts Dense/ReLU/softmax chains (fold batch-norm first)")


def input_quantizer(spec: dict | None) -> list[Any]:
    """``quantize.input`` -> a QActivation(quantized_bits) named ``input_quant`` after the input.

    Training with the input already on the fixed-point grid the firmware receives means QAT
    sees the same rounding the hardware does.
    """
    if not spec:
        return []
    from qkeras import QActivation, quantized_bits

    q = qspec(spec, "quantize.input", QSPEC_DEFAULT)
    bits, integer = q["bits"], q["integer"]
    return [QActivation(quantized_bits(bits, integer, alpha=1), name="input_quant")]


def build_qmodel(model: Any, cfg: dict) -> Any:
    """QKeras twin of ``model`` with the float weights copied in (no training)."""
    model = canonicalize(model)
    specs = layer_specs(model, cfg)
    first = input_quantizer(cfg.get("input"))
    # A new input spec replaces an input quantizer left by an earlier quantize step, and the
    # score's new input quantizer (score_layers) the one an earlier step put before it.
    stale = {f"{l.name}_in" for l in model.layers if _is_score(l)} | ({"input_quant"} if first else set())
    make = lambda l: [] if l.name in stale else quantized_layers(l, specs.get(l.name))  # noqa: E731
    qmodel = rebuild_chain(model, make, name=f"{model.name}_q", first=first)
    copy_weights(model, qmodel)
    return qmodel


def quantize_model(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Build the QKeras model, freeze pruned zeros, and fine-tune it for ``cfg['epochs']``."""
    import tensorflow_model_optimization as tfmot

    qmodel = build_qmodel(model, cfg)
    masks = constant_masks(qmodel)
    epochs = train_config(cfg, FINETUNE_EPOCHS).epochs
    cfg = {**cfg, "epochs": epochs}
    if epochs <= 0:
        return qmodel
    if not masks:
        fit_for(cfg)(qmodel, data, cfg, seed, tag="quantize")
        return qmodel
    before = kernel_sparsity(qmodel, quantized=False)
    wrapped = wrap_layers(qmodel, masks)
    fit_for(cfg)(wrapped, data, cfg, seed, tag="quantize", callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    out = private_copy(tfmot.sparsity.keras.strip_pruning(wrapped))
    _check_zeros_kept(before, out)
    return out


def _check_zeros_kept(before: dict[str, float], after: Any) -> None:
    """Sanity check (cheap): QAT must not have revived pruned weights."""
    achieved = kernel_sparsity(after, quantized=False)
    lost = {n: (round(frac, 4), round(achieved[n], 4)) for n, frac in before.items() if achieved[n] + 1e-9 < frac}
    if lost:
        raise HwaiError(f"quantize: pruned zeros were not preserved (layer: before, after) {lost}")
    print(f"[quantize] kept sparsity: {', '.join(f'{k} {v:.3f}' for k, v in achieved.items())}",
          file=sys.stderr, flush=True)
