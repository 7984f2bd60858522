"""Small IR graphs built directly (no framework) for tests across the suite."""

from __future__ import annotations

import numpy as np

from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

ACT = FixedType(6, 2, False, "RND_CONV", "SAT")
INPUT = FixedType(10, 4, True, "RND_CONV", "SAT")


def mlp_graph(sizes: tuple[int, ...] = (8, 12, 6, 4), seed: int = 0, wbits: int = 6, sparsity: float = 0.5,
              act: FixedType = ACT, input_type: FixedType = INPUT,
              accum: FixedType | None = None, out: FixedType | None = None) -> Graph:
    """dense -> relu(act) ... -> dense (-> quant(out)); exact accumulators unless ``accum`` given."""
    rng = np.random.default_rng(seed)
    wt = FixedType(wbits, 1)
    layers = []
    prev = "x"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        w = rng.integers(wt.qmin, wt.qmax + 1, (n_in, n_out))
        w[rng.random(w.shape) < sparsity] = 0
        b = rng.integers(wt.qmin, wt.qmax + 1, n_out)
        d = Node(f"fc{k}", "dense", (prev,), (f"fc{k}_out",),
                 {"weight": w, "weight_type": wt, "bias": b, "bias_type": wt, "accum_type": accum})
        layers.append((d, Tensor(f"fc{k}_out", (n_out,))))
        prev = f"fc{k}_out"
        if k < len(sizes) - 1:
            layers.append((Node(f"relu{k}", "relu", (prev,), (f"relu{k}_out",)),
                           Tensor(f"relu{k}_out", (n_out,), act)))
            prev = f"relu{k}_out"
    if out is not None:
        layers.append((Node("out_q", "quant", (prev,), ("y",)), Tensor("y", (sizes[-1],), out)))
    return infer_precision(chain("mlp", Tensor("x", (sizes[0],), input_type), layers))
