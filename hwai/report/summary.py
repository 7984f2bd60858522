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
        spread = bit_spread(row)
        if spread is not None:
            row["bits_min_mean_max"] = spread
        rows.append(row)
    return rows


# per-element (quant) and per-weight (dense) width statistics of the ops' summaries
SPREAD_KEYS = ("bits", "weight_bits")


def bit_spread(row: dict) -> str | None:
    """``min/mean/max`` of a heterogeneous layer's element or weight widths, else None."""
    for key in SPREAD_KEYS:
        if f"{key}_min" in row:
            return f"{row[key + '_min']}/{row[key + '_mean']:.1f}/{row[key + '_max']}"
    return None


def graph_sparsity(graph: Graph) -> float:
    """Fraction of zero weights over all dense layers."""
    ws = [w for n in graph.nodes for w in op_of(n).weights(n)]
    total = sum(w.size for w in ws)
    return float(1.0 - sum(np.count_nonzero(w) for w in ws) / total) if total else 0.0
