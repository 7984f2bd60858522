"""The torch/Brevitas engine: same steps and config keys as the Keras engine.

torch and brevitas are imported inside the methods, so importing this package is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import zero_fraction
from hwai.errors import RecipeError
from hwai.ir.graph import Graph
from hwai.ir.numeric import fixed_from_dict
from hwai.ir.types import FixedType

__all__ = ["TorchEngine"]


def _quantized_weight(mod: Any) -> np.ndarray:
    """The weight the layer multiplies with: Brevitas' quantized value, else the float one."""
    import torch

    with torch.no_grad():
        quant = getattr(mod, "quant_weight", None)
        w = quant().value if quant is not None and mod.weight_quant.is_quant_enabled else mod.weight
        return w.detach().cpu().numpy()


def _hetero(model: Any) -> bool:
    from hwai.engines.torch.hetero import is_hetero

    return is_hetero(model)


class TorchEngine:
    """:class:`hwai.engines.base.Engine` for torch ``nn.Module`` and Brevitas QAT models."""

    framework = "torch"

    def build(self, model_cfg: dict, data: Dataset, seed: int) -> Any:
        from hwai.engines.torch.models import build_model, check_compatible, check_graph_compatible
        from hwai.frontends.brevitas import check_supported
        from hwai.frontends.torch_fx import is_chain

        model = build_model(model_cfg, data.n_features, data.n_classes, seed, in_shape=data.x_train.shape[1:])
        shapes = data.meta.get("input_shapes") or [data.x_train.shape[1:]]   # several inputs: side by side per row
        model.hwai_input_shapes = [tuple(int(d) for d in s) for s in shapes]
        if not is_chain(model):  # branches, pooling, particle sets, several outputs: fail before any training time
            check_graph_compatible(model, None if model_cfg.get("outputs") else data.n_classes)
            return model
        layers = check_supported(model)  # fail before any training time is spent
        check_compatible(layers, data.n_features, data.n_classes)
        return model

    def train(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        from hwai.engines.torch.train import fit

        return fit(model, data, cfg, seed, tag="train")

    def prune(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        from hwai.engines.torch.prune import prune_model

        return prune_model(model, data, cfg, seed)

    def quantize(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """``method: uniform`` (default): Brevitas QAT with per-layer widths (:mod:`.quantize`);
        ``method: hgq`` (beta, init_bits): widths per weight and per neuron learned with the
        EBOPs penalty, hwai's own HGQ-style QAT (:mod:`.hetero`)."""
        method = cfg.get("method") or "uniform"
        if method == "hgq":
            from hwai.engines.torch.hetero import quantize_hetero

            return quantize_hetero(model, data, cfg, seed)
        if method != "uniform":
            raise RecipeError(f"quantize.method {method!r}: the torch engine knows uniform and hgq")
        from hwai.engines.torch.quantize import quantize_model
        from hwai.engines.torch.quantize_fx import to_brevitas_fx
        from hwai.frontends.torch_fx import is_chain

        return quantize_model(model, data, cfg, seed, None if is_chain(model) else to_brevitas_fx)

    def distill(self, student: Any, teacher: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Knowledge distillation (Hinton et al. 2015) from ``teacher``'s cached logits."""
        from hwai.engines.torch_distill import distill_torch

        return distill_torch(student, teacher, data, cfg, seed)

    def logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        from hwai.engines.torch.train import predict_logits

        return predict_logits(model, x)

    def output_logits(self, model: Any, x: np.ndarray) -> list[np.ndarray]:
        """:meth:`logits` of every model output, in order ((N, width) float64 each)."""
        from hwai.engines.torch.train import predict_outputs

        return [y.reshape(len(x), -1) for y in predict_outputs(model, x)]

    def output_widths(self, model: Any) -> list[int]:
        """Columns of each model output, in order (the recipe's ``outputs:`` is checked against them)."""
        from hwai.engines.torch.models import output_widths

        return output_widths(model)

    def sparsity(self, model: Any) -> dict[str, float]:
        """Zero fraction of each layer's *effective* kernel (after its Brevitas weight
        quantizer, if any): :func:`hwai.engines.core.zero_fraction`, as in the Keras engine."""
        from hwai.engines.torch.models import linear_layers

        if _hetero(model):
            from hwai.engines.torch.hetero import sparsity

            return sparsity(model)
        return {n: zero_fraction(_quantized_weight(m)) for n, m in linear_layers(model)}

    def bit_widths(self, model: Any) -> dict[str, dict[str, int]]:
        """Quantizer widths per QuantLinear/QuantConv; a following QuantReLU gives its 'activation'.
        An hgq model gives min/mean/max of its weight and input element widths per layer."""
        from hwai.frontends.torch_fx import layers_in_order

        if _hetero(model):
            from hwai.engines.torch.hetero import bit_widths

            return bit_widths(model)

        out: dict[str, dict[str, int]] = {}
        last = None
        for name, mod in layers_in_order(model):
            kind = type(mod).__name__
            if kind in ("QuantLinear", "QuantConv1d", "QuantConv2d"):
                last = name
                out[name] = {"weight": int(mod.quant_weight().bit_width)}
                if mod.bias is not None and mod.bias_quant.is_quant_enabled \
                        and not mod.bias_quant.requires_input_scale:
                    out[name]["bias"] = int(mod.quant_bias().bit_width)
            elif kind in ("QuantReLU", "QuantIdentity") and mod.act_quant.is_quant_enabled:
                key = last if (kind == "QuantReLU" and last) else name
                out.setdefault(key, {})["activation"] = int(mod.act_quant.bit_width())
        return out

    def ebops(self, model: Any) -> float:
        """EBOPs of the model as lowered (ap_fixed<16,6> input): :func:`hwai.estimate.rules.ebops`,
        the cost the hgq penalty approximates during training."""
        from hwai.estimate.rules import ebops
        from hwai.ir.numeric import DEFAULT_TYPE

        return ebops(self.lower(model, DEFAULT_TYPE, {}))

    def save(self, model: Any, folder: Path) -> None:
        from hwai.engines.torch.io import save

        save(model, folder)

    def restore(self, folder: Path) -> Any:
        from hwai.engines.torch.io import restore

        return restore(folder)

    def lower(self, model: Any, input_type: FixedType, cfg: dict) -> Graph:
        """Lower a chain with the Brevitas frontend, anything else traced with torch.fx
        (:func:`hwai.frontends.torch_fx.lower_torch`); a model's own input quantizer wins unless
        ``cfg['input']`` sets the firmware input type explicitly. An hgq model's input is
        ``input_type`` made exact for real inputs (:func:`.hetero_lower.exact_input_type`)
        unless ``cfg['input']`` sets it."""
        from hwai.frontends.torch_fx import lower_torch

        explicit = fixed_from_dict(cfg.get("input"))
        if _hetero(model):
            from hwai.engines.torch.hetero_lower import lower_hetero

            return lower_hetero(model, name=cfg.get("name", "model"), input_type=explicit, default_input=input_type)
        return lower_torch(model, name=cfg.get("name", "model"), input_type=explicit, default_input_type=input_type,
                           weight_type=fixed_from_dict(cfg.get("weight")) or cfg.get("weight_type"),
                           activation_type=fixed_from_dict(cfg.get("activation")) or cfg.get("act_type"))
