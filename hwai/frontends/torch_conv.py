"""torch/Brevitas convolutions and pooling for the torch.fx frontend, and their channels-first layout.

torch convolutions are channels-first, (N, C, L) / (N, C, H, W); hwai's IR and data are
channels-last, (L, C) / (H, W, C). The IR keeps every tensor channels-last; this module
tracks, per fx node, how torch sees the same values (``Walk.layout``):

- :data:`CF`: torch holds the IR tensor channels-first (a convolution's input and output);
- an index array ``p``: a channels-first tensor flattened in torch's (C-major) order while the
  IR tensor is flattened channels-last, IR element ``i`` = torch element ``p[i]``. The Linear
  that reads it gets its weight columns permuted (``W[:, p]``), so the firmware computes
  torch's exact sums without moving any data.

**Input layout.** hwai's data are channels-last (``particles``: (N, P, F)), and so is the
graph input. A torch model turns them channels-first once, in ``forward``
(``x.transpose(1, 2)``, or ``x.permute(0, 3, 1, 2)`` for images; hwai's torch ``conv1d`` arch
does this): that transpose is a layout change here, no IR op, so the torch model, the golden
model and the firmware take the same array. A model whose convolution reads a ``forward``
argument directly takes channels-first data: its IR input is channels-last, it is listed in
``graph.meta['channels_first_inputs']``, and :func:`ir_inputs` moves the channel axis of such
arrays last before they reach the golden model.

Supported: Conv1d/Conv2d and QuantConv1d/QuantConv2d with any stride, padding 0/'valid', 'same'
or symmetric integer padding (zeros), groups=1, dilation=1 (-> ``patches`` + per-window
``dense``); a BatchNorm1d/2d directly after a float Conv (folded into it); MaxPool1d/2d and
AvgPool1d/2d (padding 0, power-of-two average windows; -> ``pool``); elementwise layers, add,
flatten (then Linear) and ``mean``/``sum``/``amax`` over all positions (-> ``global_pool``) on
a convolution's output. Anything else on a channels-first tensor is one line naming the fx node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.frontends import brevitas as bv
from hwai.frontends import torch_fx_nodes as tfn
from hwai.frontends.torch_fx_nodes import Refused, Walk
from hwai.ir.graph import Graph, Tensor
from hwai.ir.windows import out_extent
from hwai.names import fresh, identifier

CF = "channels_first"
CONVS = tfn.CONVS
POOL_MODULES = {"MaxPool1d": "max", "MaxPool2d": "max", "AvgPool1d": "avg", "AvgPool2d": "avg"}
# elementwise: the layout passes through unchanged
KEEP = ("ReLU", "QuantReLU", "QuantIdentity", "Dropout", "Identity", "relu", "relu_", "contiguous")
RESHAPES = tfn.RESHAPES + ("Flatten",)
TRANSPOSES = ("transpose", "permute")
SUPPORTED_AFTER = ("Conv1d/Conv2d, BatchNorm1d/2d folded into a float conv, MaxPool/AvgPool, ReLU/QuantReLU/"
                   "QuantIdentity/Dropout, add, flatten then Linear, mean/sum/amax over all positions, "
                   "transpose back to channels-last")
Handler = Callable[[Walk, Any], None]


def kind_of(walk: Walk, node: Any) -> str:
    """A module's type name or a function's/method's name."""
    if node.op == "call_module":
        return type(walk.model.get_submodule(node.target)).__name__
    return node.op if node.op in ("placeholder", "output") else getattr(node.target, "__name__", str(node.target))


def handler(walk: Walk, node: Any) -> Handler | None:
    """This module's handler for ``node``, or None where the torch.fx frontend's own rule applies."""
    kind = kind_of(walk, node)
    if kind in CONVS:
        return conv
    if kind in POOL_MODULES:
        return window_pool
    if kind in TRANSPOSES:
        return transpose
    lay = _input_layouts(walk, node)
    if not lay or kind == "size":   # x.size(0): the batch size, the frontend's own rule
        return None
    if kind in KEEP or kind == "add" or kind.startswith("BatchNorm"):
        return _keeping
    if lay[0] is CF and kind in RESHAPES:
        return flatten
    if lay[0] is CF and kind in tfn.POOLS:
        return global_pool
    if lay[0] is not CF and kind in ("Linear", "QuantLinear"):
        return aligned_linear
    return _refuse


def _input_layouts(walk: Walk, node: Any) -> list[Any]:
    """The layouts of the node's tensor arguments that are not plain channels-last."""
    args = [a for a in _flat_args(node.args) if hasattr(a, "op")]
    return [walk.layout[a] for a in args if a in walk.layout]


def _flat_args(args: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        out += _flat_args(a) if isinstance(a, (tuple, list)) else [a]
    return out


def _refuse(walk: Walk, node: Any) -> None:
    what = "channels-first" if _input_layouts(walk, node)[0] is CF else "flattened channels-first"
    raise Refused(f"takes a {what} tensor (a torch convolution's output); on it hwai supports {SUPPORTED_AFTER}")


def _keeping(walk: Walk, node: Any) -> None:
    """An elementwise layer, a folded BatchNorm or add: the frontend's own rule, the layout kept."""
    lays = _input_layouts(walk, node)
    args = [a for a in _flat_args(node.args) if hasattr(a, "op")]
    if len(lays) != len(args) or any(not _same(lay, lays[0]) for lay in lays):
        raise Refused("mixes channels-first (convolution) and channels-last tensors; transpose one of them")
    if kind_of(walk, node) == "contiguous":
        walk.env[node] = walk.tensor(node.args[0]).name
    else:
        tfn.BY_KIND[node.op](walk, node)
    walk.layout[node] = lays[0]


def _same(a: Any, b: Any) -> bool:
    return a is b or (not isinstance(a, str) and not isinstance(b, str) and np.array_equal(a, b))


# --- convolutions ----------------------------------------------------------------------------

def conv(walk: Walk, node: Any) -> None:
    """Conv1d/Conv2d (float or Brevitas) on a channels-first tensor -> patches + dense."""
    mod = walk.model.get_submodule(node.target)
    src = _channels_first_input(walk, node)
    windows = conv_windows(mod, src.shape)
    mod = _with_batchnorm(walk, node, mod)
    pairs, inexact = bv.lower_conv(src, fresh(identifier(node.name), set(walk.tensors)), mod, windows,
                                   walk.weight_type, walk.act_type)
    walk.extend(node, pairs)
    walk.inexact += [n for n in inexact if n not in walk.inexact]
    walk.env[node] = pairs[-1][1].name
    walk.layout[node] = CF


def _channels_first_input(walk: Walk, node: Any) -> Tensor:
    if len(node.args) != 1 or node.kwargs:
        raise Refused("is called with extra arguments; hwai lowers layer(x)")
    src = walk.tensor(node.args[0])
    if walk.layout.get(node.args[0]) is not CF:
        raise Refused(f"reads a channels-last tensor of per-sample shape {src.shape}; torch convolutions read "
                      "(C, L) / (C, H, W): transpose channels-last data once in forward (x.transpose(1, 2), "
                      "x.permute(0, 3, 1, 2)) or give the input channels-first")
    return src


def conv_windows(mod: Any, in_shape: tuple[int, ...]) -> dict[str, Any]:
    """The ``patches`` attributes of a torch convolution over the channels-last ``in_shape``;
    Refused (naming what is supported) for any other geometry."""
    rank = len(mod.kernel_size)
    if len(in_shape) != rank + 1 or in_shape[-1] != mod.in_channels:
        raise Refused(f"expects {mod.in_channels} channels over {rank} spatial axis/axes but gets per-sample "
                      f"shape {_torch_shape(in_shape)} (channels first)")
    if mod.groups != 1 or any(d != 1 for d in mod.dilation) or mod.padding_mode != "zeros":
        raise Refused(f"has groups={mod.groups}, dilation={tuple(mod.dilation)}, padding_mode={mod.padding_mode!r}; "
                      "hwai lowers groups=1, dilation=1, padding_mode='zeros'")
    kernel, stride = tuple(mod.kernel_size), tuple(mod.stride)
    pads = _padding(mod.padding, kernel, rank)
    spatial = out_extent(in_shape[:-1], kernel, stride, pads, pads)
    if min(spatial) < 1:
        raise Refused(f"has kernel {kernel} larger than its padded input {_torch_shape(in_shape)}")
    return {"kernel": kernel, "strides": stride, "pad_before": pads, "pad_after": pads, "in_shape": tuple(in_shape)}


def _padding(padding: Any, kernel: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """torch's padding as per-axis symmetric counts: 'valid' 0, 'same' (K - 1) / 2 (odd K; torch
    allows it with stride 1 only), or the integers given."""
    if padding == "valid":
        return (0,) * rank
    if padding == "same":
        if any(k % 2 == 0 for k in kernel):
            raise Refused(f"has padding='same' with an even kernel {kernel} (torch pads it unevenly); "
                          "hwai lowers 'same' with odd kernels, 'valid' or symmetric integer padding")
        return tuple((k - 1) // 2 for k in kernel)
    return tuple(int(p) for p in padding)


def _with_batchnorm(walk: Walk, node: Any, mod: Any) -> Any:
    """A float Conv whose only consumer is a BatchNorm1d/2d: the folded copy (the torch frontend's
    one fold rule, :func:`hwai.frontends.torch_fx_nodes.folded_linear`)."""
    users = list(node.users)
    bn = walk.model.get_submodule(users[0].target) if len(users) == 1 and users[0].op == "call_module" else None
    if not type(bn).__name__.startswith("BatchNorm") or type(mod).__name__ not in ("Conv1d", "Conv2d"):
        return mod
    if bn.running_mean is None:
        raise Refused(f"is followed by {type(bn).__name__} {users[0].target!r} without running statistics "
                      "(track_running_stats=False); hwai folds inference-mode statistics")
    walk.folded[users[0]] = node
    return tfn.folded_linear(mod, bn)


# --- pooling -----------------------------------------------------------------------------------

def window_pool(walk: Walk, node: Any) -> None:
    """MaxPool1d/2d, AvgPool1d/2d on a channels-first tensor -> ``pool`` (channels last)."""
    mod = walk.model.get_submodule(node.target)
    src = _channels_first_input(walk, node)
    rank = len(src.shape) - 1
    size, stride = _ints(mod.kernel_size, rank), _ints(mod.stride or mod.kernel_size, rank)
    mode = POOL_MODULES[type(mod).__name__]
    if any(_ints(mod.padding, rank)) or mod.ceil_mode or any(d != 1 for d in _ints(getattr(mod, "dilation", 1), rank)) \
            or getattr(mod, "return_indices", False) or getattr(mod, "divisor_override", None):
        raise Refused("pools with padding, ceil_mode, dilation, return_indices or divisor_override; hwai pools "
                      "with padding=0 (the default of each)")
    n = math.prod(size)
    if mode == "avg" and n & (n - 1):
        raise Refused(f"averages a {n}-element window (kernel_size {size}); use a power-of-two window "
                      "(e.g. 2, 4 or 2x2) so the division is an exact shift")
    spatial = out_extent(src.shape[:-1], size, stride)
    if min(spatial) < 1:
        raise Refused(f"has kernel_size {size} larger than its input {_torch_shape(src.shape)}")
    out = walk.add(node, "pool", [src], spatial + src.shape[-1:], None, mode=mode, pool_size=size, stride=stride)
    walk.env[node], walk.layout[node] = out.name, CF


def global_pool(walk: Walk, node: Any) -> None:
    """``x.mean(dim=2)`` / ``sum`` / ``torch.amax`` over every position of a channels-first
    (N, C, L) (or ``dim=(2, 3)`` of (N, C, H, W)) -> ``global_pool`` (C,)."""
    src = walk.tensor(node.args[0])
    dim = tfn._arg(node, 1, "dim")
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    keep = tfn._arg(node, 2, "keepdim", False)
    rank = len(src.shape)
    spatial = {d % (rank + 1) for d in dims if isinstance(d, int)}
    if keep or set(node.kwargs) - {"dim", "keepdim"} or spatial != set(range(2, rank + 1)) or len(dims) != rank - 1:
        raise Refused(f"pools a channels-first {_torch_shape(src.shape)} over dim={dim!r}, keepdim={keep!r}; "
                      f"hwai pools every position: dim={tuple(range(2, rank + 1)) if rank > 2 else 2}, keepdim=False")
    name = getattr(node.target, "__name__", str(node.target))
    n = math.prod(src.shape[:-1])
    if tfn.POOLS[name] == "avg" and n & (n - 1):
        raise Refused(f"averages {n} positions; hwai averages a power-of-two count (an exact shift): "
                      "change the length, stride or padding, or use sum")
    walk.env[node] = walk.add(node, "global_pool", [src], src.shape[-1:], None, mode=tfn.POOLS[name]).name


def _ints(v: Any, rank: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * rank


# --- layout changes -------------------------------------------------------------------------------

def transpose(walk: Walk, node: Any) -> None:
    """Channels-last <-> channels-first of a (L, C) or (H, W, C) tensor: a layout change, no IR op."""
    src = walk.tensor(node.args[0])
    rank, was = len(src.shape), walk.layout.get(node.args[0])
    if was is not None and was is not CF:
        raise Refused("transposes a flattened tensor; hwai transposes (N, L, C) <-> (N, C, L) and images")
    order = _permutation(node, rank)
    to_cf, to_cl = (0, rank) + tuple(range(1, rank)), (0,) + tuple(range(2, rank + 1)) + (1,)
    if order != (to_cl if was is CF else to_cf):
        raise Refused(f"permutes per-sample shape {src.shape if was is None else _torch_shape(src.shape)} with "
                      f"dims {order}; hwai moves the channel axis once: {to_cf} (channels-last data to torch's "
                      f"channels-first) or {to_cl} (back)")
    walk.env[node] = src.name
    if was is None:
        walk.layout[node] = CF


def _permutation(node: Any, rank: int) -> tuple[int, ...]:
    """The full dim order of ``transpose(a, b)`` / ``permute(...)`` (batch axis included)."""
    n = rank + 1
    name = getattr(node.target, "__name__", str(node.target))
    args = list(node.args[1:]) or list(node.kwargs.values())
    if name == "transpose":
        if len(args) != 2 or not all(isinstance(a, int) for a in args):
            raise Refused("transposes with dims hwai cannot read (two constant ints)")
        order = list(range(n))
        a, b = args[0] % n, args[1] % n
        order[a], order[b] = order[b], order[a]
        return tuple(order)
    dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    if len(dims) != n or not all(isinstance(d, int) for d in dims):
        raise Refused(f"permutes with dims {tuple(dims)}; hwai reads {n} constant ints")
    return tuple(d % n for d in dims)


def flatten(walk: Walk, node: Any) -> None:
    """``flatten``/``view(N, -1)``/``nn.Flatten`` of a channels-first tensor: one flat IR vector in
    channels-last order; the Linear after it reads torch's C-major order through :func:`aligned_linear`."""
    src = walk.tensor(node.args[0])
    size = math.prod(src.shape)
    shape = _flat_target(walk, node, src)
    if shape != (size,):
        raise Refused(f"reshapes a channels-first {_torch_shape(src.shape)} into {shape}; after a convolution "
                      "hwai flattens everything but the batch axis (flatten(x, 1), x.view(x.size(0), -1))")
    out = walk.add(node, tfn.needs_op("reshape"), [src], shape, None, target_shape=shape)
    walk.env[node] = out.name
    walk.layout[node] = torch_order(src.shape)


def _flat_target(walk: Walk, node: Any, src: Tensor) -> tuple[int, ...]:
    torch_shape = _torch_shape(src.shape)
    if node.op == "call_module":
        mod = walk.model.get_submodule(node.target)
        return tfn._flatten_shape(torch_shape, mod.start_dim, mod.end_dim)
    if getattr(node.target, "__name__", str(node.target)) == "flatten":
        return tfn._flatten_shape(torch_shape, tfn._arg(node, 1, "start_dim", 0), tfn._arg(node, 2, "end_dim", -1))
    return tfn._view_shape(torch_shape, node.args[1:] or [node.kwargs.get("shape")], set(node.kwargs) - {"shape"})


def torch_order(shape: tuple[int, ...]) -> np.ndarray:
    """For each element of the channels-last ``shape`` flattened, its index in torch's flattened
    channels-first tensor (C-major: c * L + l)."""
    torch_index = np.arange(math.prod(shape)).reshape(_torch_shape(shape))
    return np.moveaxis(torch_index, 0, -1).ravel()


def aligned_linear(walk: Walk, node: Any) -> None:
    """A Linear reading a flattened channels-first tensor: its weight columns permuted to the IR's
    channels-last order (``W[:, p]``), then lowered as any Linear."""
    import copy

    import torch

    mod = walk.model.get_submodule(node.target)
    order = walk.layout[node.args[0]]
    if mod.in_features != len(order):
        raise Refused(f"takes {mod.in_features} features but gets {len(order)} (a flattened convolution output)")
    twin = copy.deepcopy(mod)
    with torch.no_grad():
        twin.weight.copy_(mod.weight[:, torch.as_tensor(order)])
    tfn._layer(walk, node, tfn._with_batchnorm(walk, node, twin))


def _torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """torch's channels-first per-sample shape of a channels-last IR shape."""
    return tuple(shape[-1:]) + tuple(shape[:-1])


# --- inputs -------------------------------------------------------------------------------------

def bind_channels_first(walk: Walk, gm: Any) -> None:
    """A ``forward`` argument a convolution reads directly (through elementwise layers only, e.g. a
    QuantIdentity) is channels-first data: its IR input becomes channels-last, marked :data:`CF`."""
    for place in [n for n in gm.graph.nodes if n.op == "placeholder" and n in walk.env]:
        if not _reaches_conv(walk, place):
            continue
        t = walk.tensors[walk.env[place]]
        if len(t.shape) < 2:
            raise UnsupportedLayerError(f"input {place.name!r} of {type(walk.model).__name__}.forward has per-sample "
                                        f"shape {t.shape} but feeds a convolution; give its shape channels-first, "
                                        "(C, L) or (C, H, W)")
        walk.tensors[t.name] = Tensor(t.name, tuple(t.shape[1:]) + tuple(t.shape[:1]), t.type)
        walk.layout[place] = CF


def _reaches_conv(walk: Walk, place: Any) -> bool:
    todo, seen = list(place.users), set()
    while todo:
        node = todo.pop()
        kind = kind_of(walk, node)
        if kind in CONVS or kind in POOL_MODULES:
            return True
        if kind in KEEP and node not in seen:
            seen.add(node)
            todo += list(node.users)
    return False


def channels_first_inputs(walk: Walk) -> list[str]:
    """The IR inputs whose torch data is channels-first (``graph.meta['channels_first_inputs']``)."""
    return [walk.env[p] for p in walk.layout if getattr(p, "op", None) == "placeholder" and walk.layout[p] is CF]


def ir_inputs(graph: Graph, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The arrays a torch model takes (one per input, in order) as the golden model takes them: the
    channel axis of every channels-first input moved last; other inputs unchanged."""
    cf = set(graph.meta.get("channels_first_inputs") or ())
    return [np.moveaxis(np.asarray(x), 1, -1) if name in cf else np.asarray(x) for name, x in zip(graph.inputs, xs)]
