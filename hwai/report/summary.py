"""Per-layer facts read off the IR (framework-independent)."""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph
from hwai.ir.registry import op_of


def layer_table(graph: Graph) -> list[dict]:
    """One row per node: op, output type, and for dense layers weight/bias/accum widths and sparsity."""
    rows = []
    for n in graph.nodes:
        out = graph.tensor(n.outputs[0]).type
        row = {"node": n.name, "op": n.op, "output_type": str(out), "output_bits": out.width if out else None}
        row.update(op_of(n).summary(n))
        rows.append(row)
    return rows


def graph_sparsity(graph: Graph) -> float:
    """Fraction of zero weights over all dense layers."""
    ws = [w for n in graph.nodes for w in op_of(n).weights(n)]
    total = sum(w.size for w in ws)
    return float(1.0 - sum(np.count_nonzero(w) for w in ws) / total) if total else 0.0
