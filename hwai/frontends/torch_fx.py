"""torch.fx frontend: a traced ``nn.Module`` with branches, several inputs and outputs -> hwai IR.

``torch.fx.symbolic_trace`` (with Brevitas layers kept as leaves, :func:`brevitas.fx_graph`)
turns ``forward`` into a graph of placeholders, module calls, function/method calls and
one output; each becomes IR nodes here:

- modules: every layer of the chain frontend, converted by its own per-module handler
  (:func:`brevitas.lower_layer`: Linear on (N, F) or per particle on (N, P, F), ReLU, the
  Brevitas quantizers); a ``BatchNorm1d`` directly after a float ``Linear`` on (N, F), folded
  into its weights; ``Flatten`` as a reshape;
- ``relu``; ``mean``/``sum``/``amax`` over the particle axis (dim 1 of (N, P, C)) ->
  ``global_pool`` avg/sum/max; ``flatten``/``view``/``reshape`` (an alias when the shape does
  not change, else the ``reshape`` op); ``cat`` -> ``concat``; ``+``/``add`` -> ``add``;
- a trailing softmax/log_softmax/sigmoid on an output is dropped (hwai outputs logits).

Convolutions, pooling windows and the channels-first layout around them are
:mod:`hwai.frontends.torch_conv`'s (asked first for every node). Ops another module adds
(``add``, ``concat``, ``reshape``) are reached through
:data:`GRAPH_OPS`; while an op is not registered, its fx node is refused in one line naming
the op it needs. Anything else (a loop over a tensor or data-dependent control flow fx cannot
trace, LSTM, ``torch.sort``...) is one :class:`UnsupportedLayerError` naming the fx node and
its target, before any training. Chains keep the chain frontend (:func:`lower_torch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hwai.errors import UnsupportedLayerError
from hwai.frontends import brevitas as bv
from hwai.frontends import torch_conv
from hwai.frontends.torch_fx_nodes import BY_KIND, GRAPH_OPS, RESHAPES, Refused, Walk, is_batch
from hwai.ir.graph import Graph, Tensor
from hwai.ir.numeric import DEFAULT_TYPE
from hwai.ir.types import FixedType
from hwai.names import HLS4ML_RESERVED, fresh, identifier
from hwai.passes.precision import infer_precision

__all__ = ["GRAPH_OPS", "is_chain", "layers_in_order", "lower_fx", "lower_torch", "trace"]

# what keeps an input's element count, for reading its shape from the first Linear it reaches
_SAME_SHAPE = ("QuantIdentity", "Dropout", "Identity", "ReLU", "QuantReLU", "Flatten", "BatchNorm1d", "relu", "relu_", "add") + RESHAPES
Shapes = Mapping[str, Sequence[int]] | Sequence[Sequence[int]] | None


# --- entry points -------------------------------------------------------------------------

def lower_torch(model: Any, *, name: str = "model", input_type: FixedType | None = None,
                default_input_type: FixedType | None = None, input_shapes: Shapes = None,
                weight_type: FixedType | None = None, activation_type: FixedType | None = None) -> Graph:
    """Lower any torch/Brevitas model: a chain with the chain frontend (unchanged behaviour),
    anything else traced with torch.fx. ``input_type`` overrides every input's type; else a
    leading QuantIdentity's type, else ``default_input_type`` (ap_fixed<16,6> if None)."""
    if is_chain(model, input_shapes):
        has_lead = bv.leading_input_type(bv.check_supported(model)) is not None
        return bv.lower_brevitas(model, name=name, input_type=input_type or (None if has_lead else default_input_type),
                                 weight_type=weight_type, activation_type=activation_type)
    return lower_fx(model, name=name, input_type=input_type, default_input_type=default_input_type,
                    input_shapes=input_shapes, weight_type=weight_type, activation_type=activation_type)


def is_chain(model: Any, input_shapes: Shapes = None) -> bool:
    """True for what the chain frontend lowers as it always did: an ``nn.Sequential``, a leaf
    module, or a traced straight chain of one flat input into one output that the chain
    frontend supports. A module fx cannot trace is no chain: its forward may branch on data,
    so reading its layers in registration order could lower something else (refused in
    :func:`trace`)."""
    import torch.nn as nn

    shapes = _given_shapes(model, input_shapes)
    if any(len(s) != 1 for s in (shapes.values() if isinstance(shapes, Mapping) else shapes or ())):
        return False   # particle sets: shapes the chain frontend does not carry
    if any(type(m).__name__ in torch_conv.CONVS for m in model.modules()):
        return False   # convolutions: the fx frontend (channels-first layout, torch_conv)
    if isinstance(model, nn.Sequential) or bv.is_leaf(model):
        return True
    try:
        graph = bv.fx_graph(model)
    except Exception:  # noqa: BLE001 - fx cannot trace it: refused by lower_fx with fx's reason
        return False
    return _straight(graph) and _chain_supported(model)


def lower_fx(model: Any, *, name: str = "model", input_type: FixedType | None = None,
             default_input_type: FixedType | None = None, input_shapes: Shapes = None,
             weight_type: FixedType | None = None, activation_type: FixedType | None = None) -> Graph:
    """Trace ``model`` with torch.fx and lower its graph to a typed, validated IR graph.

    ``input_shapes``: per-sample shape of each ``forward`` argument (a list in argument order,
    or a dict by name); default ``model.hwai_input_shapes`` (the engine records the data's),
    else ``(in_features,)`` of the first Linear each input reaches. Float Linear layers use
    ``weight_type``/``activation_type`` and are listed in ``graph.meta['inexact']``.
    """
    gm = trace(model)
    walk = Walk(model.eval(), weight_type or DEFAULT_TYPE, activation_type or DEFAULT_TYPE)
    _bind_inputs(walk, gm, _given_shapes(model, input_shapes), input_type, default_input_type or DEFAULT_TYPE)
    torch_conv.bind_channels_first(walk, gm)
    for node in gm.graph.nodes:
        _visit(walk, node)
    meta = {"framework": "torch", "frontend": "torch.fx", "inexact": walk.inexact,
            "output_activation": walk.out_act, "torch_nodes": walk.origin}
    if torch_conv.channels_first_inputs(walk):
        meta["channels_first_inputs"] = torch_conv.channels_first_inputs(walk)
    graph = Graph(name, tuple(walk.inputs), tuple(walk.outputs), dict(walk.tensors), tuple(walk.nodes), meta)
    return infer_precision(graph).validate()


def layers_in_order(model: Any) -> list[tuple[str, Any]]:
    """(dotted name, module) of every layer in forward order, each once: the chain frontend's
    list for a chain, else the traced graph's module calls (reports read widths from these)."""
    if is_chain(model):
        return bv.module_chain(model)
    calls = [n.target for n in trace(model).graph.nodes if n.op == "call_module"]
    return [(t, model.get_submodule(t)) for t in dict.fromkeys(calls)]


def trace(model: Any) -> Any:
    """The model's fx GraphModule without dead nodes; UnsupportedLayerError if fx cannot trace it."""
    import torch.fx as fx

    try:
        graph = bv.fx_graph(model)
    except Exception as err:  # noqa: BLE001 - fx raises TraceError, TypeError, RuntimeError...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UnsupportedLayerError(
            f"model {type(model).__name__}: torch.fx cannot trace forward ({first}); hwai lowers "
            "forwards without loops over tensors or data-dependent control flow") from None
    gm = fx.GraphModule(model, graph)
    gm.graph.eliminate_dead_code()
    return gm


def _given_shapes(model: Any, input_shapes: Shapes) -> Shapes:
    return input_shapes if input_shapes is not None else getattr(model, "hwai_input_shapes", None)


def _straight(graph: Any) -> bool:
    """One placeholder, every node fed by the one before it, one output value."""
    nodes = list(graph.nodes)
    if sum(n.op == "placeholder" for n in nodes) != 1 or isinstance(nodes[-1].args[0], (tuple, list)):
        return False
    return all(n.args and n.args[0] is prev for prev, n in zip(nodes, nodes[1:]))


def _chain_supported(model: Any) -> bool:
    try:
        bv.check_supported(model)
    except UnsupportedLayerError:
        return False
    return True


# --- the walk -----------------------------------------------------------------------------

def _bind_inputs(walk: Walk, gm: Any, shapes: Shapes, input_type: FixedType | None, default: FixedType) -> None:
    """Each used forward argument becomes a typed graph input (its shape given, recorded or read)."""
    places = [n for n in gm.graph.nodes if n.op == "placeholder"]
    given = _shape_list(places, shapes)
    for place, shape in zip(places, given):
        if not place.users:
            continue
        shape = tuple(int(d) for d in shape) if shape is not None else _infer_shape(walk.model, place)
        tin = input_type or _leading_type(walk.model, place) or default
        name = fresh(bv.INPUT_NAME if place.name in HLS4ML_RESERVED else identifier(place.name), set(walk.tensors))
        walk.tensors[name] = Tensor(name, shape, tin)
        walk.inputs.append(name)
        walk.env[place] = name


def _shape_list(places: list[Any], shapes: Shapes) -> list[Sequence[int] | None]:
    if shapes is None:
        return [None] * len(places)
    if isinstance(shapes, Mapping):
        return [shapes.get(p.name) for p in places]
    shapes = list(shapes)
    if len(shapes) != len(places):
        raise UnsupportedLayerError(f"model forward takes {len(places)} input(s) "
                                    f"({', '.join(p.name for p in places)}) but {len(shapes)} input "
                                    "shape(s) are given (one per data input); check data.inputs or the model")
    return shapes


def _infer_shape(model: Any, place: Any) -> tuple[int, ...]:
    """(in_features,) of the first Linear the input reaches through shape-keeping layers."""
    import torch.nn as nn

    todo = list(place.users)
    while todo:
        node = todo.pop(0)
        mod = model.get_submodule(node.target) if node.op == "call_module" else None
        if isinstance(mod, nn.Linear):
            return (int(mod.in_features),)
        if type(mod).__name__ in _SAME_SHAPE or getattr(node.target, "__name__", node.target) in _SAME_SHAPE:
            todo += list(node.users)
    raise UnsupportedLayerError(f"input {place.name!r} of {type(model).__name__}.forward: its per-sample shape "
                                "cannot be read from the model; give input_shapes (e.g. {'%s': (P, F)})" % place.name)


def _leading_type(model: Any, place: Any) -> FixedType | None:
    """The type of a QuantIdentity that is the input's only consumer (the firmware input type)."""
    users = [u for u in place.users if not is_batch(u)]
    if len(users) != 1 or users[0].op != "call_module":
        return None
    mod = model.get_submodule(users[0].target)
    if type(mod).__name__ == "QuantIdentity" and mod.act_quant.is_quant_enabled:
        return bv.act_type(mod.act_quant, f"layer {users[0].target!r} (QuantIdentity)")
    return None


def _visit(walk: Walk, node: Any) -> None:
    """Lower one fx node; every refusal becomes one line naming the node and its target."""
    handler = torch_conv.handler(walk, node) or BY_KIND.get(node.op)   # convolutions and their layout first
    try:
        if handler is None:
            raise Refused("is not supported")
        handler(walk, node)
    except Refused as why:
        raise UnsupportedLayerError(f"torch.fx node {node.name!r} ({node.op} {target_name(walk.model, node)}) "
                                    f"in {type(walk.model).__name__}.forward {why}") from None


def target_name(model: Any, node: Any) -> str:
    """How a user recognises the node: a module's path and type, a function's or method's name."""
    if node.op == "call_module":
        return f"{node.target}: {type(model.get_submodule(node.target)).__name__}"
    return getattr(node.target, "__name__", str(node.target))


def returning_modules(model: Any, modules: set[str]) -> list[str]:
    """The modules among ``modules`` (qualified names) that compute ``forward``'s returned values:
    from each returned value back through single-input calls to the first call of one of them."""
    out = []
    for node in trace(model).graph.find_nodes(op="output"):
        for value in _flat_args(node.args[0]):
            while value is not None and not (value.op == "call_module" and value.target in modules):
                args = [a for a in value.args if hasattr(a, "op")]
                value = args[0] if len(args) == 1 else None
            if value is not None:
                out.append(str(value.target))
    return out


def _flat_args(value: Any) -> list[Any]:
    return [v for x in value for v in _flat_args(x)] if isinstance(value, (tuple, list)) else [value]
