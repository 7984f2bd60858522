"""Plain-data context for the native C++ of an ``expr`` node (template ``native/ops/expr.h.j2``).

The template only loops over what is prepared here. Every value of the instruction
program becomes a ``const`` variable of its exact HLS type, so C++'s ``ap_fixed``
assignment performs the very cast :func:`hwai.ir.types.requantize` performs in the
golden model (``a * b`` and ``a + b`` of two ap_fixed values are exact in C++; the
rounding/overflow happens on assignment). Constants and table entries are printed as
double literals: exact, because they have at most 53 significant bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.codegen.hlstypes import ap_int_type, hls_type
from hwai.ir.expr import program_types, validate_node
from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.names import identifier

_SYM = {"add": "+", "sub": "-", "mul": "*"}
TEMPLATE = "native/ops/expr.h.j2"


def literal(code: int, t: FixedType) -> str:
    """Exact C++ double literal of a fixed-point code (repr round-trips in C++ parsing)."""
    return repr(float(np.ldexp(float(code), -t.frac)))


def expr_context(graph: Graph, node: Node, target: Any = None) -> dict:
    """Context for ``expr.h.j2``: function name, I/O types, steps, tables, outputs."""
    validate_node(graph, node)
    types = program_types(graph, node)
    tin, tout = graph.tensor(node.inputs[0]), graph.tensor(node.outputs[0])
    fn = "expr_" + identifier(node.name)
    sizes = [len(t) for t in node.attrs["tables"]]
    steps = [_step(k, ins, types, fn, sizes) for k, ins in enumerate(node.attrs["program"])]
    tables = [_table(fn, i, np.asarray(tab), _table_type(node, i)) for i, tab in enumerate(node.attrs["tables"])]
    return {"fn": fn, "node": node.name, "in_t": hls_type(tin.type), "out_t": hls_type(tout.type),
            "n_in": tin.size, "n_out": tout.size, "steps": steps, "tables": tables,
            "outputs": [{"j": j, "k": int(k)} for j, k in enumerate(node.attrs["outputs"])],
            "expressions": list(node.attrs.get("expressions", []))}


def _step(k: int, ins: dict, types: list[FixedType], fn: str, sizes: list[int]) -> dict:
    s: dict[str, Any] = {"k": k, "kind": ins["op"], "t": hls_type(types[k])}
    op = ins["op"]
    if op == "input":
        s["index"] = int(ins["index"])
    elif op == "const":
        s["value"] = literal(int(ins["code"]), types[k])
    elif op in _SYM:
        s.update(kind="binary", a=ins["args"][0], b=ins["args"][1], sym=_SYM[op])
    elif op == "neg":
        s["a"] = ins["args"][0]
    elif op == "lut":
        ta = types[ins["args"][0]]
        s.update(a=ins["args"][0], table=f"{fn}_t{ins['table']}", lo=int(ins["lo"]),
                 shift=int(ins["shift"]), last=sizes[int(ins["table"])] - 1, func=ins.get("func", "f"), aw=ta.width,
                 raw_t=ap_int_type(ta.width, ta.signed), dw=ta.width + 2)
    return s


def _table_type(node: Node, i: int) -> FixedType:
    for ins in node.attrs["program"]:
        if ins["op"] == "lut" and int(ins["table"]) == i:
            return ins["type"]
    raise ValueError(f"node {node.name!r}: table {i} is not used by any instruction")


def _table(fn: str, i: int, codes: np.ndarray, t: FixedType) -> dict:
    vals = [literal(int(c), t) for c in codes]
    rows = [", ".join(vals[j:j + 8]) for j in range(0, len(vals), 8)]
    code_rows = [", ".join(f"{int(c)}LL" for c in codes[j:j + 16]) for j in range(0, len(codes), 16)]
    return {"name": f"{fn}_t{i}", "t": hls_type(t), "size": len(vals), "rows": rows, "code_rows": code_rows}


def render_expr(graph: Graph, node: Node, target: Any = None) -> str:
    """Render the node's C++ function (header body) through hwai's strict Jinja environment."""
    from hwai.codegen.templates import render

    return render(TEMPLATE, **expr_context(graph, node, target))
