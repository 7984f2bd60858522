"""The op table: every IR op name and the class in :mod:`hwai.ops` that defines it.

An op module holds everything about its op (attributes, shape, golden evaluation,
intervals, cost, emit hooks) and so builds on the estimator and the emitters; the core
modules (interpreter, passes, estimator, emitters, simulators) in turn need the op. To
keep the layers acyclic, the core looks ops up here, by name, and never imports
:mod:`hwai.ops`: this table names each op class as ``"module:Class"`` and imports it on
first use. This is how qonnx resolves its ``CustomOp`` classes from a node's domain
and how Python entry points load plugins. The table is the one list of ops (no
directory scan); adding an op is one line here plus its module, templates and tests.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from hwai.errors import IRError

OP_TABLE: dict[str, str] = {
    "dense": "hwai.ops.dense:Dense",
    "relu": "hwai.ops.relu:Relu",
    "quant": "hwai.ops.quant:Quant",
    "expr": "hwai.ops.expr:Expr",
    "leaky_relu": "hwai.ops.leaky_relu:LeakyRelu",
    "global_pool": "hwai.ops.global_pool:GlobalPool",
    "patches": "hwai.ops.patches:Patches",
    "reshape": "hwai.ops.reshape:Reshape",
    "table": "hwai.ops.table:Table",
    "softmax": "hwai.ops.softmax:Softmax",
    "batchnorm": "hwai.ops.batchnorm:BatchNorm",
    "pool": "hwai.ops.pool:Pool",
    "add": "hwai.ops.add:Add",
    "concat": "hwai.ops.concat:Concat",
    "sum_squares": "hwai.ops.sum_squares:SumSquares",
}


@functools.cache
def op_named(name: str) -> Any | None:
    """The op object registered as ``name`` (an :class:`hwai.ops.base.Op`), or None."""
    where = OP_TABLE.get(name)
    if where is None:
        return None
    module, cls = where.split(":")
    return getattr(importlib.import_module(module), cls)()


def op_of(node: Any) -> Any:
    """The registered op of ``node`` (an :class:`hwai.ir.graph.Node`; IRError naming the
    node if there is none)."""
    op = op_named(node.op)
    if op is None:
        raise IRError(f"node {node.name!r}: unknown op {node.op!r} (known: {', '.join(OP_TABLE)})")
    return op


def all_ops() -> dict[str, Any]:
    """Every registered op, in table order."""
    return {name: op_named(name) for name in OP_TABLE}
