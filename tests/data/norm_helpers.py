"""Small IR graphs with a standalone batchnorm and sliding-window pooling (issue 13 tests)."""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

INPUT = FixedType(8, 3, True, "RND_CONV", "SAT")
ACT = FixedType(8, 3, False)
WT = FixedType(6, 1)


def _dense(rng: np.random.Generator, name: str, src: str, n_in: int, n_out: int,
           shape: tuple[int, ...]) -> tuple[Node, Tensor]:
    w = rng.integers(WT.qmin, WT.qmax + 1, (n_in, n_out))
    return (Node(name, "dense", (src,), (f"{name}_out",), {"weight": w, "weight_type": WT,
            "bias": rng.integers(WT.qmin, WT.qmax + 1, n_out), "bias_type": WT}), Tensor(f"{name}_out", shape))


def _bn(rng: np.random.Generator, name: str, src: str, shape: tuple[int, ...],
        out_type: FixedType | None) -> tuple[Node, Tensor]:
    st, bt = FixedType(7, 2), FixedType(6, 2)
    c = shape[-1]
    scale = rng.integers(st.qmin, st.qmax + 1, c)
    scale[0] = st.qmin           # the most negative scale: the corner that needs every bit
    return (Node(name, "batchnorm", (src,), (f"{name}_out",), {"scale": scale, "scale_type": st,
            "shift": rng.integers(bt.qmin, bt.qmax + 1, c), "shift_type": bt}), Tensor(f"{name}_out", shape, out_type))


def bn_graph(shape: tuple[int, ...] = (6,), seed: int = 0, out_type: FixedType | None = None) -> Graph:
    """dense -> relu -> batchnorm (standalone: after an activation) -> dense; on a (P, F) input
    the denses act per row and the batchnorm per channel (last axis)."""
    rng = np.random.default_rng(seed)
    h = shape[:-1] + (5,)
    layers = [_dense(rng, "fc1", "x", shape[-1], 5, h),
              (Node("relu1", "relu", ("fc1_out",), ("relu1_out",)), Tensor("relu1_out", h, ACT)),
              _bn(rng, "bn", "relu1_out", h, out_type),
              _dense(rng, "fc2", "bn_out", 5, 3, shape[:-1] + (3,))]
    return infer_precision(chain("bn", Tensor("x", shape, INPUT), layers)).validate()


def bn_input_graph(shape: tuple[int, ...] = (4,), seed: int = 1) -> Graph:
    """batchnorm on the input (exact output type) -> dense."""
    rng = np.random.default_rng(seed)
    layers = [_bn(rng, "bn_in", "x", shape, None), _dense(rng, "fc", "bn_in_out", shape[-1], 3, shape[:-1] + (3,))]
    return infer_precision(chain("bnin", Tensor("x", shape, INPUT), layers)).validate()


def pool_graph(shape: tuple[int, ...], mode: str, size: tuple[int, ...], stride: tuple[int, ...],
               seed: int = 0, out_type: FixedType | None = None, then_global: str | None = None) -> Graph:
    """per-row dense -> relu -> pool(mode, size, stride) [-> global_pool(then_global)] -> dense:
    (L, C) or (H, W, C); a size () skips the window pool (global pooling of the relu output)."""
    from hwai.ops.pool import PoolAttrs, spatial_out

    rng = np.random.default_rng(seed)
    h = shape[:-1] + (4,)
    layers = [_dense(rng, "fc1", "x", shape[-1], 4, h),
              (Node("relu1", "relu", ("fc1_out",), ("relu1_out",)), Tensor("relu1_out", h, ACT))]
    ps, src = h, "relu1_out"
    if size:
        ps, src = spatial_out(PoolAttrs(mode, size, stride), h) + (4,), "pool_out"
        layers.append((Node("pool", "pool", ("relu1_out",), ("pool_out",), {"mode": mode, "pool_size": size,
                       "stride": stride}), Tensor("pool_out", ps, out_type)))
    if then_global:
        layers.append((Node("gpool", "global_pool", (src,), ("gpool_out",), {"mode": then_global}),
                       Tensor("gpool_out", (4,))))
        ps, src = (4,), "gpool_out"
    layers.append(_dense(rng, "fc2", src, 4, 2, ps[:-1] + (2,)))
    return infer_precision(chain("pool", Tensor("x", shape, INPUT), layers)).validate()
