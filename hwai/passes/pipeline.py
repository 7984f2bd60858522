"""Small pure Graph -> Graph passes used by the recipe runner."""

from __future__ import annotations

from dataclasses import replace

from hwai.ir.graph import Graph
from hwai.ir.registry import op_of


def with_reuse_factor(graph: Graph, reuse_factor: int, per_layer: dict[str, int] | None = None) -> Graph:
    """Set ``impl.reuse_factor`` on every node whose op shares multipliers (dense) that does not set its own:
    ``per_layer[node name]`` where given, else ``reuse_factor``.

    Reuse factor is *how* to build a layer (time-multiplexing multipliers), never
    *what* it computes, so it lives in ``impl`` and leaves the numerics untouched.
    """
    per_layer = per_layer or {}
    nodes = tuple(n.with_impl(reuse_factor=n.impl.get("reuse_factor", per_layer.get(n.name, reuse_factor)))
                  if op_of(n).reusable else n for n in graph.nodes)
    return replace(graph, nodes=nodes)


def with_arith(graph: Graph, arith: str) -> Graph:
    """Set ``impl.arith`` ('csd' or 'da', :mod:`hwai.codegen.da`) on every node whose op
    shares multipliers (dense) that does not set its own: how the constant products are
    added up, never what the layer computes."""
    nodes = tuple(n.with_impl(arith=n.impl.get("arith", arith)) if op_of(n).reusable else n
                  for n in graph.nodes)
    return replace(graph, nodes=nodes)


def rename_tensors(graph: Graph, mapping: dict[str, str]) -> Graph:
    """Rename tensors everywhere they are referenced (inputs, outputs, node edges)."""
    if not mapping:
        return graph
    r = lambda names: tuple(mapping.get(n, n) for n in names)  # noqa: E731
    tensors = {mapping.get(k, k): replace(t, name=mapping.get(k, k)) for k, t in graph.tensors.items()}
    nodes = tuple(replace(n, inputs=r(n.inputs), outputs=r(n.outputs)) for n in graph.nodes)
    return replace(graph, inputs=r(graph.inputs), outputs=r(graph.outputs), tensors=tensors, nodes=nodes)
