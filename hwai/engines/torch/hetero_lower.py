"""Lowering a trained hgq torch model (:mod:`hwai.engines.torch.hetero`) into the IR, exactly.

``input_quant`` and every ``<relu>_quant`` become per-element ``quant`` nodes (RND, SAT; the
tensor type is :func:`hwai.ir.numeric.covering_type` of the element types); every HDense
becomes a ``dense`` with per-weight ``weight_widths``/``weight_integers`` and its codes on the
layer's common grid; ReLUs stay exact. The golden model then equals the model's float64
eval pass bit for bit (each accumulator is checked to fit float64's mantissa).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn as nn

from hwai.engines.torch.hetero import (
    SKIP_LAYERS,
    HDense,
    HQuant,
    activation_widths,
    dense_pairs,
    exact_codes,
    narrowest,
    weight_types,
)
from hwai.errors import UnsupportedLayerError

ROUNDING, OVERFLOW = "RND", "SAT"   # the activation/input casts (see the module docstring)
FLOAT64_BITS = 52                   # an accumulator this wide (+1 for the bias order) is exact in float64


def lower_hetero(model: Any, *, name: str = "model", input_type: Any = None, default_input: Any = None) -> Any:
    """The IR of a trained hgq model: per-element ``quant`` nodes for ``input_quant`` and
    every ``<relu>_quant``, ``dense`` with per-weight ``weight_widths``/``weight_integers``
    and codes on the layer's common grid; exact (float64 torch forward == golden model).

    ``input_type``: the firmware input type the user set (``lower.input``); None means
    :func:`exact_input_type` of ``default_input`` (ap_fixed<16,6> when None).
    """
    from hwai.frontends.brevitas import INPUT_NAME
    from hwai.ir.graph import Tensor, chain
    from hwai.ir.numeric import DEFAULT_TYPE
    from hwai.passes.precision import infer_precision

    model.eval()
    pairs = dense_pairs(model)
    if not pairs:
        raise UnsupportedLayerError("the hgq model has no HDense layer, nothing to lower")
    t = input_type or exact_input_type(pairs[0][2], default_input or DEFAULT_TYPE)
    tin = Tensor(INPUT_NAME, (pairs[0][1].in_features,), t)
    layers, cur = [], tin
    for lname, mod in model.named_children():
        layer = _lower_layer(lname, mod, cur)
        if layer is not None:
            layers.append(layer)
            cur = layer[1]
    graph = infer_precision(chain(name, tin, layers, {"framework": "torch", "frontend": "hgq", "inexact": []}))
    _check_float64_exact(graph)
    return graph


def exact_input_type(quant: HQuant, base: Any) -> Any:
    """``base`` with TRN rounding and at least one fractional bit more than any feature keeps.

    Truncating to F bits and then rounding half up to f < F bits equals rounding the real
    value half up to f bits (``floor(floor(x 2^F) / 2^(F-f) + 1/2) = floor(x 2^f + 1/2)``), so
    the firmware equals the torch model on real inputs too, not only on grid inputs; the
    default RND_CONV input would round twice (ties move by one LSB).
    """
    from hwai.ir.types import FixedType

    live = activation_widths(quant) > 0
    f = np.round(quant.frac.detach().numpy()).astype(np.int64)
    frac = max(base.frac, int(f[live].max()) + 1 if live.any() else 0)
    return FixedType(base.integer + frac, base.integer, base.signed, "TRN", base.overflow)


def _lower_layer(lname: str, mod: Any, cur: Any) -> tuple[Any, Any] | None:
    from hwai.ir.graph import Node, Tensor
    from hwai.ir.numeric import covering_type

    kind = type(mod).__name__
    if kind in SKIP_LAYERS:
        return None
    if isinstance(mod, HQuant):
        attrs = {"widths": activation_widths(mod), "integers": mod.integer.numpy().astype(np.int64),
                 "signed": mod.signed.numpy().astype(bool)}
        t = covering_type(attrs["widths"], attrs["integers"], attrs["signed"], ROUNDING, OVERFLOW)
        return Node(lname, "quant", (cur.name,), (lname,), attrs), Tensor(lname, cur.shape, t)
    if isinstance(mod, HDense):
        return Node(lname, "dense", (cur.name,), (lname,), dense_attrs(mod)), Tensor(lname, (mod.out_features,))
    if isinstance(mod, nn.ReLU):
        return Node(lname, "relu", (cur.name,), (lname,), {}), Tensor(lname, cur.shape)
    raise UnsupportedLayerError(f"layer {lname!r} ({kind}) cannot be lowered from an hgq model")


def dense_attrs(dense: HDense) -> dict[str, Any]:
    """``dense`` attributes: per-weight types, codes on the narrowest common grid, the bias."""
    from hwai.ir.numeric import covering_type

    codes, widths, integers = weight_types(dense)
    signed = np.ones(widths.shape, dtype=bool)
    tw = covering_type(widths, integers, signed, "TRN", "WRAP")
    frac = widths - integers
    grid = np.where(widths > 0, codes * (2 ** np.maximum(tw.frac - frac, 0)), 0)
    bias, tb = _bias_codes(dense)
    return {"weight": grid.T.copy(), "weight_type": tw, "weight_widths": widths.T.copy(),
            "weight_integers": integers.T.copy(), "bias": bias, "bias_type": tb, "accum_type": None}


def _bias_codes(dense: HDense) -> tuple[np.ndarray, Any]:
    """Bias codes on the grid of its finest non-zero element, and their exact type."""
    from hwai.ir.numeric import type_for_range
    from hwai.ir.types import FixedType

    if dense.bias is None:
        return np.zeros(dense.out_features, dtype=np.int64), FixedType(1, 1, True)
    codes, f = exact_codes(dense.bias.detach(), dense.bfrac)
    c, frac, _ = narrowest(codes.long().numpy(), f.long().numpy())
    if not c.any():
        return np.zeros(dense.out_features, dtype=np.int64), FixedType(1, 1, True)
    top = int(frac[c != 0].max())
    grid = np.where(c != 0, c * (2 ** np.maximum(top - frac, 0)), 0).astype(np.int64)
    return grid, type_for_range(int(grid.min()), int(grid.max()), top, force_signed=True)


def _check_float64_exact(graph: Any) -> None:
    """The torch eval pass is exact only while every accumulator fits float64's mantissa."""
    for node in graph.nodes_of("dense"):
        if node.attrs.accum_type.width > FLOAT64_BITS:
            raise UnsupportedLayerError(
                f"layer {node.name!r}: its {node.attrs.accum_type.width}-bit accumulator exceeds float64's "
                f"{FLOAT64_BITS + 1}-bit mantissa, so the torch forward pass is not exact; lower quantize.init_bits")


# --- Brevitas export (what Brevitas can express) ------------------------------------------

def to_brevitas(model: Any) -> Any:
    """A Brevitas twin of a trained hgq model, for interchange (QONNX, Brevitas tooling).

    Exact: every QuantLinear holds the same weight and bias values, on a per-tensor
    fixed-point quantizer of the layer's covering type (Brevitas has per-tensor and
    per-channel bit widths, not per-weight ones; a common grid holds them all).
    Not exact: the input and activation quantizers become per-tensor QuantIdentity/QuantReLU
    of their covering type, which rounds every element onto the finest element's grid with
    Brevitas' round-half-even; hwai's per-element RND/SAT casts have no Brevitas equivalent.
    Lower the hgq model itself (:func:`lower_hetero`) for firmware.
    """
    from collections import OrderedDict

    from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu

    layers, arch = [], []
    for lname, mod in model.named_children():
        if isinstance(mod, HDense):
            q, desc = _brevitas_linear(lname, mod, quant_linear)
        elif isinstance(mod, HQuant):
            t = _covering(mod)
            first = not layers
            bits, integer = (t.width + (not t.signed), t.integer + (not t.signed)) if first else (t.width, t.integer)
            q = quant_identity(bits, integer) if first else quant_relu(bits, integer)
            desc = {"name": lname, "type": "QuantIdentity" if first else "QuantReLU", "bits": bits, "integer": integer}
        else:
            q, desc = nn.ReLU(), {"name": lname, "type": "ReLU"}
        layers.append((lname, q))
        arch.append(desc)
    out = nn.Sequential(OrderedDict(layers)).eval()
    out.hwai_arch = arch
    return out


def _covering(q: HQuant) -> Any:
    from hwai.ir.numeric import covering_type

    return covering_type(activation_widths(q), q.integer.numpy(), q.signed.numpy(), ROUNDING, OVERFLOW)


def _brevitas_linear(lname: str, mod: HDense, quant_linear: Any) -> tuple[Any, dict]:
    """QuantLinear whose per-tensor quantizers reproduce the layer's values exactly
    (QKeras convention: ``integer`` excludes the sign bit)."""
    import torch

    a = dense_attrs(mod)
    tw, tb = a["weight_type"], a["bias_type"]
    w = {"bits": max(tw.width, 2), "integer": tw.integer - 1 + max(2 - tw.width, 0)}
    b = {"bits": max(tb.width, 2), "integer": tb.integer - 1 + max(2 - tb.width, 0)}
    q = quant_linear(mod.in_features, mod.out_features, mod.bias is not None, w, b)
    wq, bq = mod.exact_params()
    with torch.no_grad():
        q.weight.copy_(wq.float())
        if mod.bias is not None:
            q.bias.copy_(bq.float())
    return q, {"name": lname, "type": "QuantLinear", "in": mod.in_features, "out": mod.out_features,
               "bias": mod.bias is not None, "weight": w, "bias_quant": b}
