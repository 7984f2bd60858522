"""The op registry: one module per op family, one explicit table.

Adding an op = one module here (its :class:`~hwai.ops.base.Op` subclass), one line in
:data:`hwai.ir.registry.OP_TABLE`, its templates (``templates/native/ops/<op>.h.j2``,
``templates/native_int/ops/<op>.cpp.j2``) and its tests.
"""

from __future__ import annotations

from hwai.ir.registry import all_ops, op_of
from hwai.ops.base import NoAttrs, Op, OpAttrs

#: name -> op object, in the order of :data:`hwai.ir.registry.OP_TABLE` (the one table)
OPS: dict[str, Op] = all_ops()

__all__ = ["OPS", "NoAttrs", "Op", "OpAttrs", "op_of"]
