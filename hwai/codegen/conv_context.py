"""Emitter data of the convolution wiring ops (``patches``, :mod:`hwai.ops.patches`).

A window is wiring: the native templates copy ``x[idx[o]]`` (0 for padding) and HLS
removes the copy; the Verilog emitter hands the input's own wires on. For hls4ml the
``patches`` node and the ``dense`` reading its windows become one ``Conv1D``/``Conv2D``
layer (the dict its Keras parser writes: ``parse_conv1d_layer``/``parse_conv2d_layer``),
whose latency kernel is that dense on those windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.codegen.context import elementwise_context
from hwai.codegen.verilog_context import Layer, Sig, ident
from hwai.errors import UnsupportedLayerError
from hwai.ir.graph import Graph, Node
from hwai.ir.registry import op_of
from hwai.target import Target


def patches_context(graph: Graph, node: Node, target: Target, index: np.ndarray) -> dict[str, Any]:
    """The cast op's context plus the source index of every output element (-1: padding)."""
    return {**elementwise_context(graph, node, target), "idx": [str(int(i)) for i in index],
            "n_pad": int(np.count_nonzero(index < 0))}


def patches_layer(graph: Graph, node: Node, xs: list[Sig], index: np.ndarray) -> tuple[Layer, list[Sig]]:
    """No logic: each window element is its input wire; padding is one constant-0 wire."""
    layer = Layer(ident(node.name), node.op)
    width = xs[0].width
    zero = Sig(f"{layer.name}_zero", width, 0, 0, xs[0].frac)
    if (index < 0).any():
        layer.body.append({"kind": "wire", "name": zero.name, "width": width, "expr": f"{width}'sd0"})
    return layer, [zero if i < 0 else xs[i] for i in index]


# --- hls4ml -------------------------------------------------------------------------


def absorbed_windows(graph: Graph) -> set[str]:
    """Nodes hls4ml takes into their consumer's layer (``Op.hls4ml_into_consumer``): each must
    feed exactly one dense, which becomes the Conv layer."""
    out = set()
    for node in graph.nodes:
        if not op_of(node).hls4ml_into_consumer:
            continue
        users = graph.consumers(node.outputs[0])
        if len(users) != 1 or op_of(users[0]).hls4ml_kind(users[0]) != "dense" \
                or node.outputs[0] in graph.outputs:
            raise UnsupportedLayerError(f"node {node.name!r}: hls4ml builds {node.op} only as the input of "
                                        "one dense (a Conv layer); use the native or Verilog backend")
        out.add(node.name)
    return out


def hls4ml_conv_geometry(graph: Graph, node: Node) -> dict[str, Any]:
    """Shape, stride and padding fields of hls4ml's Conv1D/Conv2D dict for a patches node."""
    a = node.attrs
    x, y = graph.tensor(node.inputs[0]).shape, graph.tensor(node.outputs[0]).shape
    axes = ("width",) if len(a.kernel) == 1 else ("height", "width")
    pads = ("left", "right") if len(a.kernel) == 1 else ("top", "bottom", "left", "right")
    before_after = [v for pair in zip(a.pad_before, a.pad_after) for v in pair]
    out: dict[str, Any] = {"class_name": f"Conv{len(a.kernel)}D", "n_chan": int(x[-1])}
    for i, ax in enumerate(axes):
        out.update({f"in_{ax}": int(x[i]), f"out_{ax}": int(y[i]), f"filt_{ax}": a.kernel[i],
                    f"stride_{ax}": a.strides[i]})
    out.update({f"pad_{p}": int(v) for p, v in zip(pads, before_after)})
    return out


def hls4ml_conv_dicts(graph: Graph, src: Node, layer: Any, w: np.ndarray, b: np.ndarray) -> list[dict[str, Any]]:
    """hls4ml's Conv dict for ``patches -> dense`` (weights back to the Keras kernel shape
    (K..., C, F)) and the ``<conv>_linear`` activation its Keras parser splits off."""
    from hwai.codegen.hls4ml_layers import activation_dict

    geo = hls4ml_conv_geometry(graph, src)
    n_filt = int(w.shape[1])
    positions = int(np.prod(graph.tensor(layer.node.outputs[0]).shape[:-1]))
    conv = {**geo, "name": layer.name, "data_format": "channels_last", "activation": "linear",
            "use_bias": True, "n_filt": n_filt, "bias_data": b.reshape(n_filt),
            "weight_data": w.reshape(tuple(src.attrs.kernel) + (geo["n_chan"], n_filt)),
            "weight_quantizer": None, "bias_quantizer": None,
            # every output position computed at once: the fully unrolled design hwai estimates
            "parallelization_factor": positions}
    return [conv, activation_dict(f"{layer.name}_linear", "linear")]
