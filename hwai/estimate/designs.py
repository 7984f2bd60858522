"""Synthetic dense/MLP graphs for calibration, tests and benchmarks.

Deterministic (seeded); weights are uniform integer codes with a chosen fraction of
exact zeros, the shape pruning + QKeras quantization produces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision


def random_weights(n_in: int, n_out: int, bits: int, sparsity: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Signed ``bits``-bit codes, a ``sparsity`` fraction (exactly, rounded) set to zero."""
    lim = 1 << (bits - 1)
    w = rng.integers(-lim, lim, size=(n_in, n_out), dtype=np.int64)
    w[w == 0] = 1                       # zeros come only from the sparsity mask
    n_zero = int(round(sparsity * w.size))
    idx = rng.permutation(w.size)[:n_zero]
    w.flat[idx] = 0
    return w


def mlp_graph(sizes: Sequence[int], x_bits: int = 8, w_bits: int = 6, act_bits: int = 8,
              sparsity: float = 0.0, seed: int = 0, name: str = "mlp",
              act_type: FixedType | None = None) -> Graph:
    """A dense(+relu+quant) chain; the last layer has no activation.

    Inputs are ``ap_fixed<x_bits, 3>``, weights ``ap_fixed<w_bits, 1>``, hidden
    activations quantized to ``act_type`` (default ``ap_ufixed<act_bits, 3, RND, SAT>``,
    the QKeras quantized_relu shape); accumulators come from :func:`infer_precision`.
    """
    rng = np.random.default_rng(seed)
    tx = FixedType(x_bits, 3)
    tw = FixedType(w_bits, 1)
    tact = act_type or FixedType(act_bits, 3, signed=False, rounding="RND", overflow="SAT")
    layers: list[tuple[Node, Tensor]] = []
    prev = "x"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = random_weights(n_in, n_out, w_bits, sparsity, rng)
        b = rng.integers(-(1 << (w_bits - 1)), 1 << (w_bits - 1), size=n_out, dtype=np.int64)
        d = Node(f"dense{k}", "dense", (prev,), (f"h{k}",),
                 {"weight": w, "weight_type": tw, "bias": b, "bias_type": tw, "accum_type": None})
        layers.append((d, Tensor(f"h{k}", (n_out,))))
        prev = f"h{k}"
        if k < len(sizes) - 2:
            r = Node(f"relu{k}", "relu", (prev,), (f"a{k}",))
            layers.append((r, Tensor(f"a{k}", (n_out,), tact)))
            prev = f"a{k}"
    return infer_precision(chain(name, Tensor("x", (sizes[0],), tx), layers))


def dense_graph(n_in: int, n_out: int, x_bits: int, w_bits: int, sparsity: float,
                seed: int = 0, relu: bool = True) -> Graph:
    """One dense layer (optionally + relu to 8 bits): the unit of per-layer calibration."""
    sizes = [n_in, n_out, 1] if relu else [n_in, n_out]
    g = mlp_graph(sizes, x_bits=x_bits, w_bits=w_bits, sparsity=sparsity, seed=seed,
                  name=f"d{n_in}x{n_out}_x{x_bits}_w{w_bits}_s{int(sparsity * 100)}")
    if not relu:
        return g
    keep = g.nodes[:2]                  # drop the trailing 1-output layer used for typing
    out = keep[-1].outputs[0]
    return Graph(g.name, g.inputs, (out,), {k: v for k, v in g.tensors.items()
                                            if k in ("x", "h0", "a0")}, keep, g.meta)
