"""Brevitas QAT for traced (non-chain) modules: the same fx graph with quantized layers.

A chain becomes a Brevitas ``nn.Sequential`` (:func:`.quantize.to_brevitas`); a module with
branches, pooling or several inputs keeps its traced graph instead, with the same recipe keys:
each ``Linear`` becomes a QuantLinear and each ``Conv1d``/``Conv2d`` a QuantConv1d/2d of the same
geometry (weights copied), each ReLU (module, ``torch.relu``,
``F.relu`` or ``x.relu()``) a QuantReLU, and each ``forward`` argument passes a QuantIdentity
first (``quantize.input``). Layer names for ``quantize.layers`` are the module paths of the
Linear/ReLU modules and the fx node names of functional relus (``relu``, ``relu_1``...).
A checkpoint records the factory and this config; :func:`.io.rebuild` redoes the conversion.
"""

from __future__ import annotations

from typing import Any

from hwai.engines.core import qspec, resolve_layer_specs
from hwai.engines.torch.quantize import DEFAULT_INPUT, quant_conv, quant_identity, quant_linear, quant_relu

RELU_FUNCTIONS = ("relu", "relu_")


def to_brevitas_fx(model: Any, cfg: dict) -> Any:
    """The Brevitas QAT twin of a traced float module (an fx GraphModule), float weights copied in."""
    from hwai.frontends.torch_fx import trace

    gm = trace(model)
    layers = [(n, _kind(gm, n)) for n in gm.graph.nodes]
    layers = [(n, k) for n, k in layers if k is not None]
    specs = resolve_layer_specs([(name, what) for _, (name, what, _) in layers], cfg)
    inp = qspec(cfg.get("input"), "quantize.input", DEFAULT_INPUT)
    for place in gm.graph.find_nodes(op="placeholder"):
        if place.users:
            _insert_after(gm, place, f"{place.name}_quant", quant_identity(inp["bits"], inp["integer"]))
    for node, kind in layers:
        _convert(gm, node, kind, specs[kind[0]])
    gm.recompile()
    for attr in ("hwai_origin", "hwai_input_shapes"):
        if hasattr(model, attr):
            setattr(gm, attr, getattr(model, attr))
    gm.hwai_qat = dict(cfg)
    return gm


def _module_kind(gm: Any, node: Any) -> tuple[str, str, bool] | None:
    import torch.nn as nn

    mod = gm.get_submodule(node.target)
    if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return node.target, "weight", True
    return (node.target, "relu", True) if isinstance(mod, nn.ReLU) else None


def _function_kind(gm: Any, node: Any) -> tuple[str, str, bool] | None:
    return (node.name, "relu", False) if getattr(node.target, "__name__", node.target) in RELU_FUNCTIONS else None


# (layer name, 'weight' | 'relu', is a module) of the fx nodes that get quantizers, by node kind
_KINDS = {"call_module": _module_kind, "call_function": _function_kind, "call_method": _function_kind}


def _kind(gm: Any, node: Any) -> tuple[str, str, bool] | None:
    rule = _KINDS.get(node.op)
    return rule(gm, node) if rule is not None else None


def _convert(gm: Any, node: Any, kind: tuple[str, str, bool], spec: dict) -> None:
    name, what, is_module = kind
    if what == "weight":
        gm.add_submodule(name, _quant_linear(gm.get_submodule(name), spec))
        return
    relu = quant_relu(spec["activation"]["bits"], spec["activation"]["integer"])
    if is_module:
        gm.add_submodule(name, relu)
    else:   # a functional relu becomes a module call on the same input
        _insert_after(gm, node.args[0], f"{name}_quant", relu, replace=node)


def _insert_after(gm: Any, src: Any, name: str, mod: Any, replace: Any = None) -> None:
    """Call ``mod`` on ``src`` and feed its result to ``replace``'s users (default: src's)."""
    gm.add_submodule(name, mod)
    target = replace if replace is not None else src
    users = list(target.users)
    with gm.graph.inserting_after(target):
        new = gm.graph.call_module(name, (src,))
    for u in users:
        u.replace_input_with(target, new)
    if replace is not None:
        gm.graph.erase_node(replace)


def _quant_linear(mod: Any, spec: dict) -> Any:
    """The QuantLinear (or QuantConv1d/2d, same geometry) of a float layer, its weights copied in."""
    import torch
    import torch.nn as nn

    if isinstance(mod, nn.Linear):
        q = quant_linear(mod.in_features, mod.out_features, mod.bias is not None, spec["weight"], spec["bias"])
    else:
        q = quant_conv(mod, spec["weight"], spec["bias"])
    with torch.no_grad():
        q.weight.copy_(mod.weight)
        if mod.bias is not None:
            q.bias.copy_(mod.bias)
    return q
