"""Checkpoints: ``model.pt`` (a plain state dict) + ``arch.json`` (how to rebuild the module).

Restoring never unpickles code: the architecture comes from JSON and the tensors
load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hwai.errors import HwaiError

FORMAT = "hwai-torch-1"
_FLOAT_TYPES = ("Linear", "ReLU", "Dropout", "Identity", "Flatten")


def describe(model: Any) -> dict:
    """JSON-able description of ``model`` that :func:`rebuild` turns back into a module, with
    the per-sample input shapes the torch.fx frontend reads (``hwai_input_shapes``) if known."""
    desc = _describe(model)
    shapes = getattr(model, "hwai_input_shapes", None)
    return desc if shapes is None else {**desc, "input_shapes": [list(s) for s in shapes]}


def _describe(model: Any) -> dict:
    import torch.nn as nn

    arch = getattr(model, "hwai_arch", None)
    if arch is not None:
        return {"format": FORMAT, "layers": arch}
    if isinstance(model, nn.Sequential) and all(type(m).__name__ in _FLOAT_TYPES for m in model):
        return {"format": FORMAT, "layers": [_float_layer(n, m) for n, m in model.named_children()]}
    origin = getattr(model, "hwai_origin", {}) or {}
    if "factory" in origin and getattr(model, "hwai_qat", None) is not None:   # a traced module's QAT twin
        return {"format": FORMAT, "factory": origin["factory"], "quantize": model.hwai_qat}
    if "factory" in origin:
        return {"format": FORMAT, "factory": origin["factory"]}
    if "args" in origin:   # a module hwai built from its arguments (arch conv1d), QAT twin or not
        qat = getattr(model, "hwai_qat", None)
        return {"format": FORMAT, "arch": origin, **({"quantize": qat} if qat is not None else {})}
    raise HwaiError(f"cannot checkpoint a {type(model).__name__}: the torch engine saves "
                    "nn.Sequential chains it built and models made by model.factory")


def _float_layer(name: str, mod: Any) -> dict:
    kind = type(mod).__name__
    d: dict[str, Any] = {"name": name, "type": kind}
    if kind == "Linear":
        d.update({"in": mod.in_features, "out": mod.out_features, "bias": mod.bias is not None})
    elif kind == "Dropout":
        d["p"] = float(mod.p)
    return d


def rebuild(desc: dict) -> Any:
    """Module from :func:`describe` output (weights uninitialised until a state dict loads)."""
    import torch.nn as nn

    from hwai.engines.torch.hetero import LAYER_TYPES

    if desc.get("format") != FORMAT:
        raise HwaiError(f"checkpoint format {desc.get('format')!r} is not {FORMAT!r}")
    if "factory" in desc:
        from hwai.engines.torch.models import resolve_factory

        model = resolve_factory(desc["factory"])()
        model.hwai_origin = {"factory": desc["factory"]}
        if "quantize" in desc:
            from hwai.engines.torch.quantize_fx import to_brevitas_fx

            return to_brevitas_fx(model, desc["quantize"])
        return model
    if "arch" in desc:
        from hwai.engines.torch.models import from_origin

        model = from_origin(desc["arch"])
        if "quantize" in desc:
            from hwai.engines.torch.quantize_fx import to_brevitas_fx

            return to_brevitas_fx(model, desc["quantize"])
        return model
    layers = [(d["name"], _layer(d)) for d in desc["layers"]]
    model = nn.Sequential(OrderedDict(layers))
    if any(d["type"].startswith("Quant") or d["type"] in LAYER_TYPES for d in desc["layers"]):
        model.hwai_arch = desc["layers"]
    return model


def _layer(d: dict) -> Any:
    import torch.nn as nn

    from hwai.engines.torch import hetero
    from hwai.engines.torch import quantize as q

    kind = d["type"]
    if kind == "Linear":
        return nn.Linear(d["in"], d["out"], bias=d["bias"])
    if kind == "QuantLinear":
        return q.quant_linear(d["in"], d["out"], d["bias"], d["weight"], d["bias_quant"])
    if kind == "QuantIdentity":
        return q.quant_identity(d["bits"], d["integer"])
    if kind == "QuantReLU":
        return q.quant_relu(d["bits"], d["integer"])
    if kind in hetero.LAYER_TYPES:
        return hetero.layer_from_desc(d)
    if kind == "Dropout":
        return nn.Dropout(d.get("p", 0.5))
    if kind in ("ReLU", "Identity", "Flatten"):
        return getattr(nn, kind)()
    raise HwaiError(f"checkpoint layer {d.get('name')!r} has unknown type {kind!r}")


def save(model: Any, folder: Path) -> None:
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    desc = describe(model)
    (folder / "arch.json").write_text(json.dumps(desc, indent=1, sort_keys=True) + "\n")
    torch.save(model.state_dict(), folder / "model.pt")


def restore(folder: Path) -> Any:
    import torch

    folder = Path(folder)
    if not (folder / "arch.json").is_file() or not (folder / "model.pt").is_file():
        raise HwaiError(f"{folder}: not a torch checkpoint (needs arch.json and model.pt)")
    desc = json.loads((folder / "arch.json").read_text())
    model = rebuild(desc)
    if "input_shapes" in desc:
        model.hwai_input_shapes = [tuple(s) for s in desc["input_shapes"]]
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
