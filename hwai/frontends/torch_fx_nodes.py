"""The per-node rules of the torch.fx frontend (:mod:`hwai.frontends.torch_fx`).

One handler per fx node kind (:data:`BY_KIND`); call_function/call_method nodes dispatch on
the function's name (:data:`FUNCTIONS`), call_module nodes on the module's type. A handler
raises ``Refused(why)``; the walk turns it into one line naming the node and its target.
Torch dims count the batch axis; IR shapes do not (dim d > 0 is per-sample axis d - 1).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hwai.frontends import brevitas as bv
from hwai.ir.graph import Node, Tensor
from hwai.ir.registry import op_named
from hwai.ir.types import FixedType
from hwai.names import fresh, identifier

# torch construct -> the IR op that computes it (registered by the module that owns the op)
GRAPH_OPS = {"add": "add", "cat": "concat", "reshape": "reshape", "conv": "patches"}
POOLS = {"mean": "avg", "sum": "sum", "amax": "max"}
RESHAPES = ("flatten", "view", "reshape")
OUTPUT_ACTS = ("softmax", "log_softmax", "sigmoid", "Softmax", "LogSoftmax", "Sigmoid")
CONVS = ("Conv1d", "Conv2d", "QuantConv1d", "QuantConv2d")
BATCH = object()        # the value of ``x.size(0)``: the batch size, allowed in view/reshape


class Refused(Exception):
    """Raised by a node handler; :func:`hwai.frontends.torch_fx.lower_fx` words it as one UnsupportedLayerError line."""


@dataclass
class Walk:
    """IR under construction: fx node -> IR tensor name (or :data:`BATCH`), nodes in fx order."""

    model: Any
    weight_type: FixedType
    act_type: FixedType
    env: dict[Any, Any] = field(default_factory=dict)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)   # IR node -> the fx node it lowers
    folded: dict[Any, Any] = field(default_factory=dict)   # BatchNorm fx node -> its Linear fx node
    layout: dict[Any, Any] = field(default_factory=dict)   # fx node -> how torch holds it (torch_conv)
    out_act: str = "linear"

    def tensor(self, arg: Any) -> Tensor:
        value = self.env.get(arg) if hasattr(arg, "op") else None
        if not isinstance(value, str):
            raise Refused(f"takes {arg!r} where hwai needs a tensor computed from the inputs")
        return self.tensors[value]

    def add(self, fx_node: Any, op: str, srcs: Sequence[Tensor], shape: tuple[int, ...],
            ftype: FixedType | None = None, **attrs: Any) -> Tensor:
        name = fresh(identifier(fx_node.name), set(self.tensors))
        self.nodes.append(Node(name, op, tuple(t.name for t in srcs), (name,), attrs))
        self.tensors[name] = out = Tensor(name, shape, ftype)
        self.origin[name] = fx_node.name
        return out

    def extend(self, fx_node: Any, pairs: list[tuple[Node, Tensor]]) -> None:
        for node, out in pairs:
            if node.name in self.tensors:
                raise Refused(f"lowers to IR node {node.name!r}, a name already used; rename the module")
            self.nodes.append(node)
            self.tensors[out.name] = out
            self.origin[node.name] = fx_node.name


def is_batch(arg: Any) -> bool:
    """``x.size(0)``: the batch size (not data), as ``view``/``reshape`` take it."""
    if getattr(arg, "op", None) != "call_method" or arg.target != "size":
        return False
    return (arg.args[1] if len(arg.args) > 1 else arg.kwargs.get("dim")) == 0


def needs_op(what: str) -> str:
    """The IR op computing ``what`` (:data:`GRAPH_OPS`); Refused while it is not registered."""
    op = GRAPH_OPS[what]
    if op_named(op) is None:
        raise Refused(f"needs op {op!r}, which this hwai does not have yet")
    return op


def folded_linear(linear: Any, bn: Any) -> Any:
    """A copy of ``linear`` (or a Conv) with an inference-mode BatchNorm folded in (float level):
    y = gamma * (x W^T + b - mean) / sqrt(var + eps) + beta = x (W s)^T + (b - mean) s + beta."""
    import torch

    lin = copy.deepcopy(linear)
    with torch.no_grad():
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
        b = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_mean)
        lin.weight.copy_(linear.weight * s.reshape(-1, *[1] * (linear.weight.dim() - 1)))   # Linear or Conv
        lin.bias = torch.nn.Parameter((b - bn.running_mean) * s + (bn.bias if bn.affine else 0.0))
    return lin


Handler = Callable[[Walk, Any], None]


# --- modules --------------------------------------------------------------------------------

def call_module(walk: Walk, node: Any) -> None:
    mod = walk.model.get_submodule(node.target)
    kind = type(mod).__name__
    if kind in OUTPUT_ACTS:
        return _output_activation(walk, node, kind)
    if kind == "Flatten":
        return _reshape_to(walk, node, _flatten_shape(walk.tensor(node.args[0]).shape, mod.start_dim, mod.end_dim))
    if kind.startswith("BatchNorm"):
        return _batchnorm(walk, node)
    if kind not in bv.SUPPORTED:
        raise Refused(f"is not supported (modules: {', '.join(bv.SUPPORTED)}, BatchNorm1d after Linear, "
                       "Softmax/LogSoftmax/Sigmoid on an output)")
    _layer(walk, node, _with_batchnorm(walk, node, mod))


def _layer(walk: Walk, node: Any, mod: Any) -> None:
    """One layer through the chain frontend's own per-module handler."""
    src = _single_input(walk, node)
    n_in = getattr(mod, "in_features", None)
    if n_in is not None and src.shape[-1] != n_in:
        raise Refused(f"takes {n_in} features on its last axis but gets a tensor of per-sample shape {src.shape}")
    pairs, inexact = bv.lower_layer(src, _ir_name(walk, node), mod, walk.weight_type, walk.act_type)
    walk.extend(node, pairs)
    walk.inexact += [n for n in inexact if n not in walk.inexact]
    walk.env[node] = pairs[-1][1].name if pairs else src.name


def _ir_name(walk: Walk, node: Any) -> str:
    return fresh(identifier(node.name), set(walk.tensors))


def _with_batchnorm(walk: Walk, node: Any, mod: Any) -> Any:
    """A float Linear on (N, F) whose only consumer is a BatchNorm1d: the folded copy."""
    users = list(node.users)
    bn = walk.model.get_submodule(users[0].target) if len(users) == 1 and users[0].op == "call_module" else None
    if type(bn).__name__ != "BatchNorm1d" or type(mod).__name__ != "Linear":
        return mod
    if len(walk.tensor(node.args[0]).shape) != 1:
        return mod   # on (N, P, F) torch's BatchNorm1d normalises dim 1, the particles: refused there
    if bn.running_mean is None:
        raise Refused(f"is followed by BatchNorm1d {users[0].target!r} without running statistics "
                       "(track_running_stats=False); hwai folds inference-mode statistics")
    walk.folded[users[0]] = node
    return folded_linear(mod, bn)


def _batchnorm(walk: Walk, node: Any) -> None:
    if node not in walk.folded:
        raise Refused("is folded only directly after a float Linear on (N, F) or a float Conv1d/Conv2d "
                       "that feeds nothing else; "
                       "hwai has no standalone batch normalization for torch models")
    walk.env[node] = walk.env[walk.folded[node]]


def _output_activation(walk: Walk, node: Any, kind: str) -> None:
    """hwai's outputs are logits: a softmax/sigmoid whose value only leaves forward is dropped."""
    if any(u.op != "output" for u in node.users):
        raise Refused(f"({kind}) is supported only on a model output; hwai emits the logits before it")
    walk.env[node] = walk.tensor(node.args[0]).name
    walk.out_act = kind.lower()


def _single_input(walk: Walk, node: Any) -> Tensor:
    if len(node.args) != 1 or node.kwargs:
        raise Refused("is called with extra arguments; hwai lowers layer(x)")
    return walk.tensor(node.args[0])


# --- functions and methods --------------------------------------------------------------------

def call_function(walk: Walk, node: Any) -> None:
    name = getattr(node.target, "__name__", str(node.target))
    if node.target is getattr:
        raise Refused("reads a tensor attribute; use x.size(0) for the batch size")
    rule = FUNCTIONS.get(name)
    if rule is None:
        raise Refused(f"is not supported (functions and methods: {', '.join(sorted(FUNCTIONS))})")
    rule(walk, node)


def _relu(walk: Walk, node: Any) -> None:
    import torch.nn as nn

    _args(node, 1, ("inplace",))
    _layer_on(walk, node, nn.ReLU())


def _layer_on(walk: Walk, node: Any, mod: Any) -> None:
    src = walk.tensor(node.args[0])
    pairs, _ = bv.lower_layer(src, _ir_name(walk, node), mod)
    walk.extend(node, pairs)
    walk.env[node] = pairs[-1][1].name if pairs else src.name


def _pool(walk: Walk, node: Any) -> None:
    """``x.mean(dim=1)`` / ``sum`` / ``torch.amax`` over the particles of (N, P, C)."""
    name = getattr(node.target, "__name__", str(node.target))
    dim, keep = _arg(node, 1, "dim"), _arg(node, 2, "keepdim", False)
    extra = set(node.kwargs) - {"dim", "keepdim"}
    src = walk.tensor(node.args[0])
    dim = dim[0] if isinstance(dim, (tuple, list)) and len(dim) == 1 else dim
    if extra or keep or len(node.args) > 3 or len(src.shape) != 2 or dim not in (1, -2):
        raise Refused(f"pools {src.shape} with dim={dim!r}, keepdim={keep!r}; hwai pools the particle axis: "
                       f"dim=1 of (N, P, C), keepdim=False ({', '.join(POOLS)})")
    walk.env[node] = walk.add(node, "global_pool", [src], src.shape[1:], None, mode=POOLS[name]).name


def _reshape(walk: Walk, node: Any) -> None:
    name = getattr(node.target, "__name__", str(node.target))
    src = walk.tensor(node.args[0])
    if name == "flatten":
        shape = _flatten_shape(src.shape, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
    else:
        shape = _view_shape(src.shape, node.args[1:] or [node.kwargs.get("shape")], set(node.kwargs) - {"shape"})
    _reshape_to(walk, node, shape)


def _reshape_to(walk: Walk, node: Any, shape: tuple[int, ...]) -> None:
    """Row-major data does not move: the same tensor, or the ``reshape`` op for a new shape."""
    src = walk.tensor(node.args[0])
    if shape == src.shape:
        walk.env[node] = src.name
        return
    op = needs_op("reshape")
    walk.env[node] = walk.add(node, op, [src], shape, None, target_shape=shape).name


def _flatten_shape(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    if start == 0:
        raise Refused("flattens the batch axis (start_dim=0); use start_dim=1")
    a, b = _axis(start, shape), _axis(end, shape)
    return shape[:a] + (math.prod(shape[a:b + 1]),) + shape[b + 1:]


def _view_shape(shape: tuple[int, ...], args: Sequence[Any], extra: set[str]) -> tuple[int, ...]:
    dims = list(args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args)
    if extra or not dims or not (is_batch(dims[0]) or (isinstance(dims[0], int) and dims[0] == -1)):
        raise Refused("reshapes without keeping the batch axis first (x.view(x.size(0), ...) or x.view(-1, ...))")
    rest = [int(d) for d in dims[1:]] if all(isinstance(d, int) for d in dims[1:]) else None
    if rest is None or (not is_batch(dims[0]) and -1 in rest) or rest.count(-1) > 1:
        raise Refused("reshapes to a shape hwai cannot read (constant ints after the batch axis)")
    size = math.prod(shape)
    if -1 in rest:
        rest[rest.index(-1)] = size // max(1, -math.prod(rest))
    if math.prod(rest) != size:
        raise Refused(f"reshapes per-sample shape {shape} into {tuple(rest)}")
    return tuple(rest)


def _size(walk: Walk, node: Any) -> None:
    if _arg(node, 1, "dim") != 0:
        raise Refused("reads a per-sample size; hwai takes x.size(0) (the batch) only, in view/reshape")
    walk.env[node] = BATCH


def _cat(walk: Walk, node: Any) -> None:
    srcs = [walk.tensor(a) for a in _arg(node, 0, "tensors")]
    dim = _arg(node, 1, "dim", 0)
    rank = len(srcs[0].shape)
    axis = _axis(dim, srcs[0].shape) if dim != 0 else -1
    if dim == 0 or any(len(s.shape) != rank for s in srcs) or \
            any(s.shape[:axis] + s.shape[axis + 1:] != srcs[0].shape[:axis] + srcs[0].shape[axis + 1:] for s in srcs):
        raise Refused(f"concatenates {[s.shape for s in srcs]} on dim {dim}; hwai joins per-sample axes "
                       "(dim=-1 or dim>=1) of tensors equal elsewhere")
    op = needs_op("cat")
    shape = srcs[0].shape[:axis] + (sum(s.shape[axis] for s in srcs),) + srcs[0].shape[axis + 1:]
    walk.env[node] = walk.add(node, op, srcs, shape, None, axis=axis - rank).name


def _add(walk: Walk, node: Any) -> None:
    if len(node.args) != 2 or node.kwargs or not all(hasattr(a, "op") for a in node.args):
        raise Refused("adds something other than two tensors (a constant or alpha=); hwai adds tensors x + y")
    a, b = (walk.tensor(x) for x in node.args)
    if a.shape != b.shape:
        raise Refused(f"adds per-sample shapes {a.shape} and {b.shape}; hwai adds equal shapes (no broadcasting)")
    op = needs_op("add")
    walk.env[node] = walk.add(node, op, [a, b], a.shape, None).name


def _activation_fn(walk: Walk, node: Any) -> None:
    _output_activation(walk, node, getattr(node.target, "__name__", str(node.target)))


# --- arguments and axes ---------------------------------------------------------------------

def _arg(node: Any, pos: int, key: str, default: Any = None) -> Any:
    return node.args[pos] if len(node.args) > pos else node.kwargs.get(key, default)


def _args(node: Any, n: int, keys: tuple[str, ...]) -> None:
    if len(node.args) > n or set(node.kwargs) - set(keys):
        raise Refused("is called with arguments hwai does not read")


def _axis(dim: Any, shape: tuple[int, ...]) -> int:
    """Torch dim (batch axis 0) -> per-sample axis; Refused for the batch axis or out of range."""
    if not isinstance(dim, int) or dim == 0 or not -len(shape) <= (dim - 1 if dim > 0 else dim) < len(shape):
        raise Refused(f"works on dim {dim!r}, not a per-sample axis of {shape}")
    return dim - 1 if dim > 0 else len(shape) + dim


# --- placeholders and outputs --------------------------------------------------------------------

def placeholder(walk: Walk, node: Any) -> None:
    return None   # bound before the walk (Walk.bind_inputs)


def output(walk: Walk, node: Any) -> None:
    value = node.args[0]
    for v in value if isinstance(value, (tuple, list)) else (value,):
        t = walk.tensor(v)
        if t.name in walk.inputs or t.name in walk.outputs:
            raise Refused(f"returns {t.name!r} unchanged or twice; return values computed by layers once")
        walk.outputs.append(t.name)


FUNCTIONS: dict[str, Handler] = {
    "relu": _relu, "relu_": _relu, **dict.fromkeys(POOLS, _pool), **dict.fromkeys(RESHAPES, _reshape),
    "size": _size, "cat": _cat, "concat": _cat, "add": _add, **dict.fromkeys(("softmax", "log_softmax", "sigmoid"), _activation_fn),
}
BY_KIND: dict[str, Handler] = {"placeholder": placeholder, "call_module": call_module, "call_function": call_function,
                               "call_method": call_function, "output": output}
