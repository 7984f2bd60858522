"""Per-layer facts read off the IR (framework-independent)."""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph


def layer_table(graph: Graph) -> list[dict]:
    """One row per node: op, output type, and for dense layers weight/bias/accum widths and sparsity."""
    rows = []
    for n in graph.nodes:
        out = graph.tensor(n.outputs[0]).type
        row = {"node": n.name, "op": n.op, "output_type": str(out), "output_bits": out.width if out else None}
        if n.op == "dense":
            w = np.asarray(n.attrs["weight"])
            row.update({"shape": list(w.shape),
                        "weight_bits": n.attrs["weight_type"].width,
                        "bias_bits": n.attrs["bias_type"].width,
                        "accum_bits": n.attrs["accum_type"].width,
                        "weight_type": str(n.attrs["weight_type"]),
                        "nonzero_weights": int(np.count_nonzero(w)),
                        "sparsity": float(1.0 - np.count_nonzero(w) / w.size),
                        "reuse_factor": int(n.impl.get("reuse_factor", 1))})
        rows.append(row)
    return rows


def graph_sparsity(graph: Graph) -> float:
    """Fraction of zero weights over all dense layers."""
    ws = [np.asarray(n.attrs["weight"]) for n in graph.nodes if n.op == "dense"]
    total = sum(w.size for w in ws)
    return float(1.0 - sum(np.count_nonzero(w) for w in ws) / total) if total else 0.0
