"""Brevitas QAT with fixed-point (power-of-two, constant-scale) quantizers.

Config keys are the Keras engine's, in QKeras conventions so one recipe serves both:
``bits``/``integer`` for weights (``integer`` excludes the sign: ``quantized_bits(6, 0)``
is ``ap_fixed<6,1>``), ``activation: {bits, integer}`` for ReLUs (``ap_ufixed<bits,
integer>``), optional ``bias: {bits, integer}``, per-layer overrides in ``layers``.
``input: {bits, integer}`` is the exception: ``integer`` *includes* the sign, as in
``lower.input`` and ap_fixed (default ``ap_fixed<16,6>``).

Every scale is a constant power of two (``scaling_impl_type='const'`` with
``restrict_scaling_type=POWER_OF_TWO``), so the quantized network is a fixed-point
network and hwai's lowering is exact.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hwai.data.dataset import Dataset
from hwai.engines.core import FINETUNE_EPOCHS, qspec, resolve_layer_specs, seed_everything, train_config
from hwai.errors import UnsupportedLayerError

DEFAULT_INPUT = {"bits": 16, "integer": 6}


# --- Brevitas building blocks (also used by io.restore) ----------------------------

def quant_identity(bits: int, integer: int) -> Any:
    """Signed input quantizer == ap_fixed<bits, integer, RND_CONV, SAT> (integer incl. sign)."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFixedPoint

    # Brevitas: scale = threshold / 2**(bits-1)  (PowerOfTwoIntScaling, signed)
    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits,
                             scaling_impl_type="const", scaling_init=2.0 ** (integer - 1))


def quant_linear(n_in: int, n_out: int, has_bias: bool, w: dict, b: dict) -> Any:
    """QuantLinear with QKeras-style ``quantized_bits(bits, integer)`` weights and bias."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8BiasPerTensorFixedPointInternalScaling, Int8WeightPerTensorFixedPoint

    # narrow_range=False: QKeras quantized_bits uses the full [-2^(b-1), 2^(b-1)-1] range.
    return qnn.QuantLinear(
        n_in, n_out, bias=has_bias,
        weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=w["bits"],
        weight_scaling_impl_type="const", weight_scaling_init=2.0 ** w["integer"],
        weight_narrow_range=False,
        bias_quant=Int8BiasPerTensorFixedPointInternalScaling, bias_bit_width=b["bits"],
        bias_scaling_impl_type="const", bias_scaling_init=2.0 ** b["integer"])


def quant_conv(conv: Any, w: dict, b: dict) -> Any:
    """QuantConv1d/2d with ``conv``'s geometry and :func:`quant_linear`'s weight and bias quantizers."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8BiasPerTensorFixedPointInternalScaling, Int8WeightPerTensorFixedPoint

    cls = getattr(qnn, "QuantConv" + type(conv).__name__[-2:])   # QuantConv1d | QuantConv2d
    return cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
               dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None, padding_mode=conv.padding_mode,
               weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=w["bits"],
               weight_scaling_impl_type="const", weight_scaling_init=2.0 ** w["integer"],
               weight_narrow_range=False,
               bias_quant=Int8BiasPerTensorFixedPointInternalScaling, bias_bit_width=b["bits"],
               bias_scaling_impl_type="const", bias_scaling_init=2.0 ** b["integer"])


def quant_relu(bits: int, integer: int) -> Any:
    """QuantReLU == ap_ufixed<bits, integer, RND_CONV, SAT> (QKeras quantized_relu)."""
    import brevitas.nn as qnn
    from brevitas.quant import Uint8ActPerTensorFixedPoint

    # unsigned: scale = threshold / 2**bits
    return qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits,
                         scaling_impl_type="const", scaling_init=2.0 ** integer)


# --- config --------------------------------------------------------------------------

def layer_specs(chain: list[tuple[str, Any]], cfg: dict) -> dict[str, dict]:
    """Per-layer quantizer spec {name: {weight, bias, activation}} for a float chain."""
    import torch.nn as nn

    kinds = [(n, "weight" if isinstance(m, nn.Linear) else "relu" if isinstance(m, nn.ReLU) else "other")
             for n, m in chain]
    return resolve_layer_specs(kinds, cfg)


# --- conversion ----------------------------------------------------------------------

def to_brevitas(model: Any, cfg: dict) -> Any:
    """The Brevitas QAT twin of a float chain, float weights copied in."""
    import torch.nn as nn

    from hwai.frontends.brevitas import module_chain

    chain = module_chain(model)
    specs = layer_specs(chain, cfg)
    inp = qspec(cfg.get("input"), "quantize.input", DEFAULT_INPUT)
    layers: list[tuple[str, nn.Module]] = [("input_quant", quant_identity(inp["bits"], inp["integer"]))]
    arch: list[dict] = [{"name": "input_quant", "type": "QuantIdentity", **inp}]
    for name, mod in chain:
        q, desc = _convert(name, mod, specs.get(name))
        layers.append((name, q))
        arch.append(desc)
    qmodel = nn.Sequential(OrderedDict(layers))
    qmodel.hwai_arch = arch
    return qmodel


def _convert(name: str, mod: Any, spec: dict | None) -> tuple[Any, dict]:
    import torch
    import torch.nn as nn

    if isinstance(mod, nn.Linear):
        q = quant_linear(mod.in_features, mod.out_features, mod.bias is not None,
                         spec["weight"], spec["bias"])
        with torch.no_grad():
            q.weight.copy_(mod.weight)
            if mod.bias is not None:
                q.bias.copy_(mod.bias)
        return q, {"name": name, "type": "QuantLinear", "in": mod.in_features,
                   "out": mod.out_features, "bias": mod.bias is not None,
                   "weight": spec["weight"], "bias_quant": spec["bias"]}
    if isinstance(mod, nn.ReLU):
        a = spec["activation"]
        return quant_relu(a["bits"], a["integer"]), {"name": name, "type": "QuantReLU", **a}
    if isinstance(mod, (nn.Dropout, nn.Identity, nn.Flatten)):
        return mod, {"name": name, "type": type(mod).__name__}
    raise UnsupportedLayerError(f"layer {name!r} ({type(mod).__name__}) cannot be quantized by the "
                                "torch engine; supported: Linear, ReLU, Dropout, Identity, Flatten")


def weight_masks(model: Any) -> list[tuple[Any, Any]]:
    """(parameter, mask) for every linear weight with zeros: pruned weights stay zero."""
    out = []
    for _, mod in _linears(model):
        mask = (mod.weight.detach() != 0).to(mod.weight.dtype)
        if bool((mask == 0).any()):
            out.append((mod.weight, mask))
    return out


def _linears(model: Any) -> list[tuple[str, Any]]:
    from hwai.engines.torch.models import linear_layers

    return linear_layers(model)


def quantize_model(model: Any, data: Dataset, cfg: dict, seed: int,
                   convert: Callable[[Any, dict], Any] | None = None) -> Any:
    """Convert to Brevitas (``convert``, default :func:`to_brevitas` for chains) and fine-tune
    (QAT) for ``cfg['epochs']`` epochs."""
    import torch

    from hwai.engines.torch.train import fit

    seed_everything(int(seed), "torch")
    qmodel = (convert or to_brevitas)(model, cfg)
    masks = weight_masks(qmodel)

    def keep_zeros() -> None:
        # Re-applying the mask after each Adam step keeps pruned weights exactly 0.0,
        # and a zero float weight quantizes to the integer 0 (zero point is 0).
        with torch.no_grad():
            for w, m in masks:
                w.mul_(m)

    fit(qmodel, data, {**cfg, "epochs": train_config(cfg, FINETUNE_EPOCHS).epochs}, seed, tag="quantize",
        after_step=keep_zeros)
    return qmodel.eval()
