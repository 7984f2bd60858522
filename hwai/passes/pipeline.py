"""Small pure Graph -> Graph passes used by the recipe runner."""

from __future__ import annotations

from dataclasses import replace

from hwai.ir.graph import Graph


def with_reuse_factor(graph: Graph, reuse_factor: int) -> Graph:
    """Set ``impl.reuse_factor`` on every dense node that does not set its own.

    Reuse factor is *how* to build a layer (time-multiplexing multipliers), never
    *what* it computes, so it lives in ``impl`` and leaves the numerics untouched.
    """
    nodes = tuple(n.with_impl(reuse_factor=n.impl.get("reuse_factor", reuse_factor))
                  if n.op == "dense" else n for n in graph.nodes)
    return replace(graph, nodes=nodes)
