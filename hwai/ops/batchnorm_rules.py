"""Estimator rule of the standalone ``batchnorm`` op (:mod:`hwai.ops.batchnorm`).

Each element is a one-weight neuron: its CSD (or DSP) product x * scale_c plus the shift
constant is the same adder tree a dense neuron with one input builds, so the dense rules
(:func:`hwai.estimate.tree.neuron_leaves`, :func:`hwai.estimate.tree.tree_cost`) price it,
plus one output cast and one registered stage, as the Verilog emitter builds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hwai.ir.numeric import signed_bits

if TYPE_CHECKING:
    from hwai.ir.graph import Graph, Node


def batchnorm_cost(graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
    """LUT = a * Σ adder bits + b * cast bits; DSP per :func:`mult_kind`; FF = c * output bits."""
    from hwai.estimate.cost import Cost
    from hwai.estimate.rules import cast_bits, levels_delay_ns, levels_to_cycles
    from hwai.estimate.tree import neuron_leaves, tree_cost
    from hwai.ir.types import FixedType
    from hwai.ops.batchnorm import aligned

    tx, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    a = node.attrs
    s, b, fs = aligned(graph, node)
    sh = fs - tx.frac - a.scale_type.frac
    x_lo, x_hi = (np.ravel(v) for v in iv[node.inputs[0]][:2])
    trees = []
    for i, (lo, hi) in enumerate(zip(x_lo, x_hi)):
        ch = i % len(s)
        leaves, dsp = neuron_leaves([lo], [hi], [int(a.scale[ch])], int(b[ch]), sh, tx.width, c)
        trees.append(tree_cost(leaves, dsp))
    width = max((signed_bits(t.lo, t.hi) for t in trees), default=1)
    pre = FixedType(width, width - fs, True)
    out_cast = cast_bits(pre, tout) * len(trees)
    lut = c.lut_per_add_bit * c.add_width_frac * sum(t.adder_bits for t in trees) + c.lut_per_cast_bit * out_cast
    levels = max(max((t.depth for t in trees), default=0) + int(out_cast > 0), 1)
    cycles = levels_to_cycles(levels, width, target, c)
    ff = c.ff_per_reg_bit * tout.width * len(trees) * cycles
    return (Cost(lut, ff, sum(t.dsp for t in trees), 0.0, cycles, 1, levels_delay_ns(levels / cycles, width, c)),
            "per-element constant multiply (CSD) + shift, one output cast")
