"""Verilog layers of the ``batchnorm`` and ``pool`` ops, built from the dense/pool pieces of
:mod:`hwai.codegen.verilog_context` (adder trees, max chains, ``hwai_cast`` instances)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from hwai.codegen.verilog_context import (
    Layer,
    Sig,
    _register,
    add_cast,
    build_tree,
    cast_interval,
    dense_terms,
    ident,
    pool_window,
)
from hwai.estimate.cost import Coefficients
from hwai.ir.graph import Graph, Node


def batchnorm_layer(g: Graph, node: Node, xs: list[Sig], stages: int, style: str,
                    coeffs: Coefficients, b: list[int], fs: int) -> tuple[Layer, list[Sig]]:
    """Element i: the one-input neuron x_i * scale_c + shift_c (the dense leaves: CSD shifts or
    one multiply, and the shift constant ``b[c]`` already at the exact sum's fraction ``fs``,
    on an adder tree), then the output cast and a register."""
    a = node.attrs
    tout = g.tensor(node.outputs[0]).type
    tx = g.tensor(node.inputs[0]).type
    layer, outs = Layer(ident(node.name), node.op, stages=stages), []
    for i, x in enumerate(xs):
        ch = i % len(b)
        # the channel's scale as a one-input dense column: dense_terms reads only these fields
        col = SimpleNamespace(attrs=SimpleNamespace(weight=np.asarray(a.scale[ch:ch + 1])[None, :],
                                                    weight_type=a.scale_type))
        pre = f"{layer.name}_{i}"
        leaves = dense_terms(col, [x], 0, fs, style, coeffs, tx.width)
        acc = build_tree(layer, pre, leaves, int(b[ch]), fs, stages)
        out = add_cast(layer, acc, tout, f"{pre}_o", *cast_interval(acc, tout))
        outs.append(_register(layer, out, f"{ident(node.outputs[0])}_{i}"))
    return layer, outs


def window_pool_layer(g: Graph, node: Node, xs: list[Sig], stages: int, wins: Any,
                      shift: int) -> tuple[Layer, list[Sig]]:
    """Per output element an adder tree over its window (``wins``: :func:`hwai.ops.pool.windows`;
    avg: the root read ``shift`` bits further right, no logic) or a compare-and-select chain
    (max), then the output cast."""
    ch, tout = int(g.tensor(node.inputs[0]).shape[-1]), g.tensor(node.outputs[0]).type
    layer, outs = Layer(ident(node.name), node.op, stages=stages), []
    for o, win in enumerate(wins):
        for c in range(ch):
            k, col = o * ch + c, [xs[int(p) * ch + c] for p in win]
            outs.append(pool_window(layer, col, node.attrs.mode, shift, tout, stages, f"{layer.name}_{k}",
                                    f"{ident(node.outputs[0])}_{k}"))
    return layer, outs
