"""``quantize: {method: hgq}``: High Granularity Quantization with HGQ 0.2.6 (arXiv 2405.00645).

The float (possibly pruned) chain becomes an HGQ model: ``HQuantize`` after the input (the
learned input quantizer, one bit width per feature) and one ``HDense`` per Dense with a
bit width per weight and per output neuron, the following ReLU fused into it (HDense
quantizes *before* its activation, which is how HGQ derives the unsigned relu type).
Training adds ``beta * EBOPs`` to the loss (HGQ's differentiable effective bit operations),
so bits that do not pay for themselves go to zero: a 0-bit weight is pruned, a 0-bit
activation is a constant 0. Afterwards ``trace_minmax`` on the training rows fixes the
integer bits of every activation and ``to_proxy_model`` turns the model into plain
Dense/ReLU layers plus ``FixedPointQuantizer`` layers with per-element types: the model the
engine hands on, checkpoints and lowers (:mod:`hwai.frontends.hgq`).

HGQ imports TensorFlow itself; it is imported here only when the step runs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import FINETUNE_EPOCHS, HGQ_BETA, HGQ_INIT_BITS, train_config
from hwai.engines.keras.models import activation_name, canonicalize, chain_layers, is_softmax
from hwai.engines.keras.train import fit
from hwai.errors import UnsupportedLayerError

# HGQ's own defaults (HGQ.utils): 2 bits to start from. For a kernel that is 2 significant
# bits per weight (``adapt_bw_bits``), for an activation 2 fractional bits.
INPUT_QUANT = "input_quant"
# trace_minmax batch: the whole training set in a few forward passes
TRACE_BATCH = 16384


def is_hgq(cfg: dict) -> bool:
    """The quantize step's method is HGQ (other methods: QKeras, :mod:`.quantize`)."""
    return cfg.get("method") == "hgq"


def quantize_hgq(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Float chain -> HGQ model -> train with the EBOPs penalty -> traced proxy model."""
    from HGQ import FreeBOPs, ResetMinMax, trace_minmax

    beta = float(cfg.get("beta", HGQ_BETA))
    hmodel = build_hgq_model(model, beta, int(cfg.get("init_bits") or HGQ_INIT_BITS))
    epochs = train_config(cfg, FINETUNE_EPOCHS).epochs
    if epochs > 0:
        # ResetMinMax: the activation ranges trace one epoch at a time; FreeBOPs logs EBOPs
        fit(hmodel, data, {**cfg, "epochs": epochs}, seed, tag="quantize",
            callbacks=[ResetMinMax(), FreeBOPs()])
    cost = float(trace_minmax(hmodel, np.asarray(data.x_train, dtype=np.float32), bsz=TRACE_BATCH,
                              verbose=False))
    print(f"[quantize] hgq beta {beta:g}: {cost:.0f} EBOPs after tracing the training rows",
          file=sys.stderr, flush=True)
    return proxy_model(hmodel, model)


# --- float chain -> HGQ model --------------------------------------------------------

def build_hgq_model(model: Any, beta: float, init_bits: int = HGQ_INIT_BITS) -> Any:
    """HGQ twin of a float Dense/ReLU/softmax chain, float weights copied in (no training)."""
    import tensorflow as tf
    from HGQ import HQuantize

    model = canonicalize(model)
    plan = _plan(chain_layers(model))
    kq, paq = _quantizer_configs(init_bits)
    x = inputs = tf.keras.Input(shape=model.input_shape[1:], name=_input_name(model))
    x = HQuantize(beta=beta, paq_conf=paq, name=INPUT_QUANT)(x)
    made = []
    for layer, act in plan:
        new = _hgq_layer(layer, act, beta, kq, paq)
        x = new(x)
        made.append((layer, new))
    hmodel = tf.keras.Model(inputs, x, name=f"{model.name}_hgq")
    for layer, new in made:
        _copy_float_weights(layer, new, init_bits)
    return hmodel


def _plan(layers: list[Any]) -> list[tuple[Any, str]]:
    """(layer, activation) per output layer: Dense with a fused relu/linear, or a softmax."""
    plan: list[tuple[Any, str]] = []
    for layer in layers:
        cls = type(layer).__name__
        if cls in ("Dropout", "Flatten") or layer.name == INPUT_QUANT:
            continue  # identity at inference / an earlier input quantizer HQuantize replaces
        if cls in ("Dense", "QDense"):
            plan.append((layer, "linear"))
        elif _is_relu(layer) and plan and plan[-1][1] == "linear" and plan[-1][0] is not None:
            plan[-1] = (plan[-1][0], "relu")
        elif is_softmax(layer) and layer is layers[-1]:
            plan.append((None, "softmax"))
        else:
            raise UnsupportedLayerError(
                f"quantize: layer '{layer.name}' ({cls}) is not supported by method hgq; it converts "
                "Dense layers, each optionally followed by a ReLU, and a final softmax")
    return plan


def _is_relu(layer: Any) -> bool:
    return not layer.weights and (type(layer).__name__ == "ReLU" or activation_name(layer) == "relu")


def _quantizer_configs(init_bits: int) -> tuple[dict, dict]:
    from HGQ import get_default_kq_conf, get_default_paq_conf

    kq, paq = get_default_kq_conf(), get_default_paq_conf()
    kq["init_bw"] = paq["init_bw"] = init_bits
    return kq, paq


def _hgq_layer(layer: Any, act: str, beta: float, kq: dict, paq: dict) -> Any:
    import tensorflow as tf
    from HGQ import HDense

    if layer is None:
        return tf.keras.layers.Activation("softmax", name="softmax")
    mask = _kernel_mask(layer)
    return HDense(layer.units, activation=act, use_bias=layer.use_bias, beta=beta, kq_conf=kq,
                  paq_conf=paq, name=layer.name, kernel_constraint=mask)


def _kernel_mask(layer: Any) -> Any:
    """Pruned zeros stay zero (as in the QKeras path): a constraint re-zeroes them after
    each optimizer step. None when the kernel has no exact zeros."""
    import tensorflow as tf

    keep = np.asarray(layer.kernel) != 0
    if keep.all():
        return None

    class KeepZeros(tf.keras.constraints.Constraint):
        def __call__(self, w: Any) -> Any:
            return w * keep.astype(np.float32)

    return KeepZeros()


def _copy_float_weights(src: Any, dst: Any, init_bits: int) -> None:
    """Float kernel/bias into the HDense, then HGQ's bit-width initialisation on *these*
    weights: ``init_bits`` significant bits per weight (HGQ's ``adapt_bw_bits``). A pruned
    zero starts at 0 fractional bits so that it quantizes to 0."""
    if src is None:
        return
    dst.kernel.assign(np.asarray(src.kernel, dtype=np.float32))
    if src.use_bias:
        dst.bias.assign(np.asarray(src.bias, dtype=np.float32))
    w = np.abs(np.asarray(src.kernel, dtype=np.float64))
    fbw = np.where(w > 0, init_bits - np.log2(np.where(w > 0, w, 1.0)), 0.0)
    dst.kq.fbw.assign(np.broadcast_to(fbw, dst.kq.fbw.shape).astype(np.float32))


def _input_name(model: Any) -> str:
    names = getattr(model, "input_names", None)
    return names[0] if names else "input"


# --- HGQ model -> proxy model ----------------------------------------------------------

def proxy_model(hmodel: Any, float_model: Any) -> Any:
    """``HGQ.to_proxy_model`` with deterministic layer names.

    HGQ builds the proxy with Keras' auto-numbered ``input_N`` / ``re_lu_N`` layers, whose
    numbers depend on what the process built before; they are renamed to the float model's
    input name and ``<dense>_relu`` (HGQ's own naming for the relu's quantizer), through the
    model's JSON so every reference is renamed with the layer.
    """
    import tensorflow as tf
    from HGQ import to_proxy_model

    from hwai.engines.keras.io import custom_objects

    for layer in hmodel.layers:
        if hasattr(layer, "kernel_constraint"):
            layer.kernel_constraint = None  # a training-only object; the proxy's Dense has none
    proxy = to_proxy_model(hmodel)
    text = proxy.to_json()
    for old, new in sorted(_stable_names(proxy, float_model).items()):
        text = text.replace(json.dumps(old), json.dumps(new))
    clean = tf.keras.models.model_from_json(text, custom_objects=custom_objects())
    clean.set_weights(proxy.get_weights())
    clean._name = hmodel.name
    return clean


def _stable_names(proxy: Any, float_model: Any) -> dict[str, str]:
    names = {proxy.layers[0].name: _input_name(float_model)}
    last_dense = None
    for layer in proxy.layers:
        if type(layer).__name__ == "Dense":
            last_dense = layer.name
        elif type(layer).__name__ == "ReLU" and last_dense is not None:
            names[layer.name] = f"{last_dense}_relu"
    return {old: new for old, new in names.items() if old != new}


# --- what the engine reports about a proxy model ----------------------------------------

def is_proxy(model: Any) -> bool:
    """An HGQ proxy model (has FixedPointQuantizer layers)."""
    return any(type(l).__name__ == "FixedPointQuantizer" for l in model.layers)


def refuse_training(model: Any, step: str) -> None:
    """A proxy model is inference-only (FixedPointQuantizer refuses ``training=True``): say
    so in one line before a training step starts, instead of failing inside Keras."""
    if is_proxy(model):
        raise UnsupportedLayerError(
            f"{step}: model '{model.name}' is an HGQ proxy model (FixedPointQuantizer layers); it lowers as it "
            "is but cannot be trained: drop the train/prune/quantize/distill steps or start from the float model")


def ebops(model: Any) -> float:
    """EBOPs of a proxy model as HGQ computes them (``HDense.compute_exact_bops``).

    Per Dense: sum over (i, j) of bits(x_i) * bits(w_ij), bits(x_i) the width (sign
    included) of the quantizer feeding the layer, bits(w_ij) HGQ's ``get_arr_bits``
    integer + fractional bits of the weight (sign not counted, 0 for a zero). Equals what
    ``trace_minmax`` returns for the HGQ model the proxy came from.
    """
    from HGQ.quantizer.quantizer import get_arr_bits

    total, bits_in = 0.0, None
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "FixedPointQuantizer":
            bits_in = layer.bits.numpy().astype(np.float64).reshape(-1)
        elif cls == "Dense" and bits_in is not None:
            _, i, f = get_arr_bits(np.asarray(layer.kernel))
            w_bits = (i.astype(np.float64) + f)
            total += float(np.sum(np.broadcast_to(bits_in, (w_bits.shape[0],)) @ w_bits))
            bits_in = None
    return total


def bit_widths(model: Any) -> dict[str, dict[str, float]]:
    """Per Dense of a proxy: min/mean/max width of its weights (0 = pruned; the signed
    per-weight types hwai lowers) and of its output activations (the last quantizer before
    the next Dense); ``input_quant`` gets its activation entry."""
    from hwai.frontends.hgq import quantizer_bits, weight_types

    out: dict[str, dict[str, float]] = {}
    current = None
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == "Dense":
            current = layer.name
            out[current] = _stats("weight", weight_types(layer)[2])
        elif cls == "FixedPointQuantizer":
            name = current or layer.name
            out.setdefault(name, {}).update(_stats("activation", quantizer_bits(layer)))
    return out


def _stats(what: str, bits: np.ndarray) -> dict[str, float]:
    b = np.asarray(bits, dtype=np.float64)
    return {what: int(b.max(initial=0)), f"{what}_min": int(b.min(initial=0)),
            f"{what}_mean": round(float(b.mean()) if b.size else 0.0, 4)}
