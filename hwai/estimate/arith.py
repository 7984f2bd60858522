"""``lower.arith: auto``: per dense layer, a shared adder graph only where it costs no cycle.

A distributed-arithmetic graph (``arith: da``, :mod:`hwai.codegen.da`) shares partial sums
across a layer's neurons, which saves LUTs, but sharing makes the graph deeper than the
per-neuron shift-add trees (``arith: csd``). On large layers that depth costs a second
cycle per layer at 200 MHz (measured on the jet MLP: 8 cycles with ``da`` where ``csd``
takes 4). ``auto`` estimates every layer both ways and keeps ``da`` where it is smaller
and takes no more cycles than ``csd``, so the design has the latency of per-neuron trees
and the LUTs of shared graphs wherever they are free. hls4ml and da4ml leave this choice
to the user (hls4ml's ``Strategy``, da4ml per call); hwai makes it from its own estimate.
A layer that sets its own ``impl.arith`` keeps it.
"""

from __future__ import annotations

from dataclasses import replace

from hwai.estimate.cost import Coefficients, Cost, estimate
from hwai.ir.graph import Graph
from hwai.ir.registry import op_of
from hwai.passes.pipeline import with_arith
from hwai.target import Target


def prefers_da(da: Cost, csd: Cost) -> bool:
    """The rule: the shared graph wins when it is smaller and no slower."""
    return da.latency_cycles <= csd.latency_cycles and da.lut < csd.lut


def choose_arith(graph: Graph, target: Target, coeffs: Coefficients | None = None) -> Graph:
    """``graph`` with ``impl.arith`` set per dense layer by :func:`prefers_da` (pure)."""
    # A layer's cost reads only its own weights and its inputs' intervals, never how other
    # layers add up, so one estimate each way prices every layer both ways.
    da = estimate(with_arith(graph, "da"), target, coeffs).per_node
    csd = estimate(with_arith(graph, "csd"), target, coeffs).per_node
    nodes = tuple(n.with_impl(arith="da" if prefers_da(da[n.name], csd[n.name]) else "csd")
                  if op_of(n).reusable and "arith" not in n.impl else n for n in graph.nodes)
    return replace(graph, nodes=nodes)
