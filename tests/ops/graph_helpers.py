"""Small IR graphs with branches, several inputs and several outputs (add / concat tests)."""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

ACT = FixedType(8, 3, False, "RND_CONV", "SAT")
INPUT = FixedType(9, 4, True, "RND_CONV", "SAT")
FEATURES = FixedType(7, 2, True, "TRN", "SAT")


def dense(name: str, src: str, n_in: int, n_out: int, rng: np.random.Generator, wbits: int = 6) -> Node:
    wt = FixedType(wbits, 1)
    w = rng.integers(wt.qmin, wt.qmax + 1, (n_in, n_out))
    w[rng.random(w.shape) < 0.3] = 0
    b = rng.integers(wt.qmin, wt.qmax + 1, n_out)
    return Node(name, "dense", (src,), (name,), {"weight": w, "weight_type": wt, "bias": b, "bias_type": wt})


def skip_graph(n: int = 8, hidden: int = 6, n_out: int = 5, seed: int = 0, skip_type: FixedType | None = None) -> Graph:
    """x -> fc1 -> relu -> fc2 (n) ; add(x, fc2) -> relu -> fc3: a residual block (``skip_type``:
    the sum's type; None: exact)."""
    rng = np.random.default_rng(seed)
    nodes = (dense("fc1", "x", n, hidden, rng), Node("r1", "relu", ("fc1",), ("r1",)),
             dense("fc2", "r1", hidden, n, rng), Node("skip", "add", ("x", "fc2"), ("skip",)),
             Node("r2", "relu", ("skip",), ("r2",)), dense("fc3", "r2", n, n_out, rng))
    shapes = {"x": (n,), "fc1": (hidden,), "r1": (hidden,), "fc2": (n,), "skip": (n,), "r2": (n,), "fc3": (n_out,)}
    types = {"x": INPUT, "r1": ACT, "r2": ACT, "skip": skip_type}
    tensors = {k: Tensor(k, s, types.get(k)) for k, s in shapes.items()}
    return infer_precision(Graph("skip", ("x",), ("fc3",), tensors, nodes))


def hybrid_graph(p: int = 4, f: int = 3, n_feat: int = 6, phi: int = 5, n_out: int = 4, seed: int = 1,
                 join_type: FixedType | None = None) -> Graph:
    """Two inputs, two outputs: particles (p, f) -> per-particle dense -> relu -> average pool,
    concatenated with the jet features (n_feat,) -> dense (logits); the pooled tensor is a
    second output (``join_type``: the concatenation's type; None: covering every input)."""
    rng = np.random.default_rng(seed)
    nodes = (dense("phi", "particles", f, phi, rng), Node("phi_relu", "relu", ("phi",), ("phi_relu",)),
             Node("pool", "global_pool", ("phi_relu",), ("pool",), {"mode": "avg"}),
             Node("join", "concat", ("pool", "features"), ("join",), {"axis": -1}),
             dense("rho", "join", phi + n_feat, n_out, rng))
    shapes = {"particles": (p, f), "features": (n_feat,), "phi": (p, phi), "phi_relu": (p, phi),
              "pool": (phi,), "join": (phi + n_feat,), "rho": (n_out,)}
    types = {"particles": INPUT, "features": FEATURES, "phi_relu": ACT, "join": join_type}
    tensors = {k: Tensor(k, s, types.get(k)) for k, s in shapes.items()}
    return infer_precision(Graph("hybrid", ("particles", "features"), ("rho", "pool"), tensors, nodes))
