"""hwai's IR: fixed-point types, the typed graph, and the golden interpreter."""

from hwai.ir.graph import Graph, IRError, Node, Tensor, chain
from hwai.ir.numeric import type_for_range
from hwai.ir.types import FixedType, requantize

__all__ = ["FixedType", "Graph", "IRError", "Node", "Tensor", "chain", "requantize", "type_for_range"]
