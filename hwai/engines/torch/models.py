"""Building torch models: the named ``jet_mlp``, a user's factory, or a (trusted) pickle.

Every model hwai builds itself is an ``nn.Sequential`` of named leaf layers, so the
Brevitas frontend can walk it in order and :mod:`.io` can describe it as JSON.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwai.errors import DataError, ModelFileError

JET_MLP_HIDDEN = (64, 32, 32)

# Trailing output normalisations are dropped: hwai models and firmware produce logits.
_OUTPUT_ACTIVATIONS = ("Softmax", "LogSoftmax", "Sigmoid")


def jet_mlp(n_in: int, n_out: int, hidden: Sequence[int] = JET_MLP_HIDDEN) -> Any:
    """The hls4ml tutorial MLP (16-64-32-32-5 ReLU) with layers fc1, relu1, ..., output."""
    import torch.nn as nn

    layers: list[tuple[str, nn.Module]] = []
    width = n_in
    for i, h in enumerate(hidden, start=1):
        layers += [(f"fc{i}", nn.Linear(width, int(h))), (f"relu{i}", nn.ReLU())]
        width = int(h)
    layers.append(("output", nn.Linear(width, n_out)))
    return nn.Sequential(OrderedDict(layers))


def build_model(model_cfg: dict, n_in: int, n_out: int, seed: int, in_shape: Sequence[int] | None = None) -> Any:
    """Dispatch on ``arch`` / ``factory`` / ``path``; seeds torch so initial weights repeat.
    ``in_shape``: the data's per-sample shape (``arch: conv1d`` reads particles (P, F))."""
    import torch

    torch.manual_seed(seed)
    arch, factory = model_cfg.get("arch"), model_cfg.get("factory")
    path = model_cfg.get("state_dict") or model_cfg.get("path")
    if factory:
        model = _from_factory(str(factory), path, model_cfg)
    elif arch == "jet_mlp":
        model = jet_mlp(n_in, n_out, model_cfg.get("hidden") or JET_MLP_HIDDEN)
        model.hwai_origin = {"arch": "jet_mlp"}
    elif arch == "conv1d":
        from hwai.engines.torch.conv import conv1d_model

        model = conv1d_model(model_cfg, in_shape or (n_in,), n_out)
    elif arch == "multihead":
        from hwai.engines.torch.multihead import multihead_model

        model = multihead_model(model_cfg, n_in, n_out)
    elif arch:
        raise ModelFileError(f"model.arch {arch!r} is unknown to the torch engine; use 'jet_mlp', 'conv1d', 'multihead' "
                        "or give model.factory: 'package.module:function'")
    elif path:
        model = load_pickled_module(Path(path), bool(model_cfg.get("trust_pickle", False)))
    else:
        raise ModelFileError("model: give arch: jet_mlp, factory: 'package.module:function' "
                        "(+ state_dict), or path to a saved torch model")
    return model.float().eval()


def check_compatible(layers: list[tuple[str, Any]], n_features: int, n_classes: int) -> None:
    """First Linear's inputs / last Linear's outputs must match the data; name both numbers."""
    import torch.nn as nn

    linear = [(name, m) for name, m in layers if isinstance(m, nn.Linear)]
    if not linear:
        return   # check_supported's caller (lower) names a model without Linear layers
    (first, head), (last, tail) = linear[0], linear[-1]
    if head.in_features != n_features:
        raise DataError(f"model layer {first!r} takes input shape ({head.in_features},) "
                        f"({head.in_features} features) but the data has {n_features} features; "
                        "check data.features or the model")
    if tail.out_features != n_classes:
        raise DataError(f"model layer {last!r} has {tail.out_features} outputs but the data has "
                        f"{n_classes} classes; check data.class_names or the model")


def check_graph_compatible(model: Any, n_classes: int | None) -> None:
    """A traced (non-chain) model: lowering it on the data's input shape (recorded on the model)
    names any unsupported node or shape mismatch; its one output must have ``n_classes`` values.
    ``n_classes`` None: the recipe's ``outputs:`` says what each output is (checked there)."""
    from hwai.frontends.torch_fx import lower_fx

    graph = lower_fx(model)
    if n_classes is None:
        return
    if len(graph.outputs) != 1:
        raise DataError(f"model {type(model).__name__} returns {len(graph.outputs)} outputs; a classification "
                        "recipe trains one output of class logits")
    shape = graph.tensor(graph.outputs[0]).shape
    if shape != (n_classes,):
        raise DataError(f"model {type(model).__name__} outputs per-sample shape {shape} but the data has "
                        f"{n_classes} classes; check data.class_names or the model")


def _from_factory(factory: str, state_dict: str | None, model_cfg: dict) -> Any:
    fn = resolve_factory(factory)
    try:
        model = fn()
    except TypeError as err:
        raise ModelFileError(f"model.factory {factory!r} must be callable without arguments "
                        f"and return an nn.Module ({err})") from None
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise ModelFileError(f"model.factory {factory!r} returned {type(model).__name__}, "
                        "not a torch.nn.Module")
    if state_dict:
        load_state_dict_file(model, Path(state_dict), bool(model_cfg.get("trust_pickle", False)))
    model.hwai_origin = {"factory": factory}
    return model


def resolve_factory(factory: str) -> Any:
    """Import ``'package.module:function'``; every failure is a one-line HwaiError."""
    mod_name, sep, attr = factory.partition(":")
    if not sep or not mod_name or not attr:
        raise ModelFileError(f"model.factory {factory!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as err:
        raise ModelFileError(f"model.factory {factory!r}: cannot import {mod_name!r} ({err}); "
                        "make it importable (pip install -e . or PYTHONPATH)") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ModelFileError(f"model.factory {factory!r}: {mod_name!r} has no callable {attr!r}")
    return fn


def load_state_dict_file(model: Any, path: Path, trust_pickle: bool = False) -> None:
    """Load a state dict with ``weights_only=True`` (no code runs while unpickling)."""
    import torch

    if not path.is_file():
        raise ModelFileError(f"model.state_dict {path} not found")
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    try:
        model.load_state_dict(obj)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ModelFileError(f"model.state_dict {path} does not fit the factory's module: {first}") from None


def load_pickled_module(path: Path, trust_pickle: bool) -> Any:
    """Load a whole pickled ``nn.Module`` (e.g. the legacy reference ``three_layer_model.pt``).

    Unpickling runs arbitrary code, so it needs ``trust_pickle: true``; a file holding
    only a state dict needs a factory to give it an architecture.
    """
    import torch

    if not path.is_file():
        raise ModelFileError(f"model.path {path} not found")
    obj = _torch_load(path, trust_pickle)
    if not isinstance(obj, torch.nn.Module):
        raise ModelFileError(f"model.path {path} holds a {type(obj).__name__}, not a module; "
                        "give model.factory: 'package.module:function' and model.state_dict")
    model = strip_output_activation(obj)
    model.hwai_origin = {"pickle": str(path)}
    return model


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    import pickle
    import warnings

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError) as err:   # truncated or not a torch file at all
        raise ModelFileError(f"cannot read torch file {path}: {type(err).__name__}: "
                             f"{str(err).strip().splitlines()[0] if str(err).strip() else 'empty'}; "
                             "is it truncated or another format?") from None
    except pickle.UnpicklingError as err:
        if not trust_pickle:
            raise ModelFileError(f"{path} is a pickled torch object, not a plain state dict; loading it "
                            "runs code from the file: set model.trust_pickle: true only if you "
                            "trust its source, or re-save it with torch.save(model.state_dict())") from None
        del err
    with warnings.catch_warnings():  # legacy files warn that nn source changed since 2018
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=False)


def strip_output_activation(model: Any) -> Any:
    """Drop a trailing Softmax/LogSoftmax/Sigmoid of a Sequential: hwai works on logits."""
    import torch.nn as nn

    if isinstance(model, nn.Sequential) and len(model) and \
            type(model[-1]).__name__ in _OUTPUT_ACTIVATIONS:
        return nn.Sequential(OrderedDict(list(model.named_children())[:-1]))
    return model


def linear_layers(model: Any) -> list[tuple[str, Any]]:
    """(name, module) of every weight-carrying layer (nn.Linear, nn.Conv1d/2d and their Brevitas
    QuantLinear/QuantConv1d/2d), in order."""
    import torch.nn as nn

    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def from_origin(origin: dict) -> Any:
    """The module a checkpoint's ``hwai_origin`` (``{arch, args}``, an arch hwai built) describes
    (weights loaded by the caller)."""
    from hwai.engines.torch.origin import with_origin

    if origin.get("arch") == "multihead":
        from hwai.engines.torch.multihead import multihead_net as build
    else:
        from hwai.engines.torch.conv import conv1d_tagger as build
    return with_origin(build(**origin["args"]), origin)


def output_widths(model: Any) -> list[int]:
    """Columns of each model output, in order, read from its lowered graph (shaped outputs flattened)."""
    from hwai.frontends.torch_fx import lower_torch

    graph = lower_torch(model)
    return [graph.tensor(name).size for name in graph.outputs]
