"""The op registry: one module per op family, one explicit table.

Adding an op = one module here (its :class:`~hwai.ops.base.Op` subclass), one line in
:data:`OPS`, its templates (``templates/native/ops/<op>.h.j2``,
``templates/native_int/ops/<op>.cpp.j2``) and its tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwai.ops.base import NoAttrs, Op, OpAttrs
from hwai.ops.dense import Dense
from hwai.ops.expr import Expr
from hwai.ops.leaky_relu import LeakyRelu
from hwai.ops.quant import Quant
from hwai.ops.relu import Relu

if TYPE_CHECKING:
    from hwai.ir.graph import Node

OPS: dict[str, Op] = {
    "dense": Dense(),
    "relu": Relu(),
    "quant": Quant(),
    "expr": Expr(),
    "leaky_relu": LeakyRelu(),
}


def op_of(node: "Node") -> Op:
    """The registered op of ``node`` (IRError naming the node if there is none)."""
    try:
        return OPS[node.op]
    except KeyError:
        from hwai.ir.graph import IRError
        raise IRError(f"node {node.name!r}: unknown op {node.op!r} (known: {', '.join(OPS)})") from None


__all__ = ["OPS", "NoAttrs", "Op", "OpAttrs", "op_of"]
