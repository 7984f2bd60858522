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


def hetero_weights(rng: np.random.Generator, n_in: int, n_out: int, max_bits: int = 8,
                   frac: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray, FixedType]:
    """Random per-weight types (widths 0..max_bits, some pruned) and codes on their grids,
    held on the common grid of the returned covering weight type."""
    from hwai.ir.numeric import covering_type
    ww = rng.integers(0, max_bits + 1, (n_in, n_out))
    wi = ww - rng.integers(0, frac + 1, (n_in, n_out))           # own frac 0..frac
    tw = covering_type(ww, wi, np.ones_like(ww, bool))
    own = rng.integers(-(1 << np.maximum(ww - 1, 0)), (1 << np.maximum(ww - 1, 0)))
    own = np.where(ww > 0, own, 0)
    codes = own * (1 << np.where(ww > 0, tw.frac - (ww - wi), 0))
    return codes.astype(np.int64), ww, wi, tw


def elem_types(rng: np.random.Generator, n: int, max_bits: int = 8, signed: bool | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random per-element (widths 0..max_bits, integers, signed) for a quant node."""
    w = rng.integers(0, max_bits + 1, n)
    i = rng.integers(-2, 6, n)
    s = rng.random(n) < 0.5 if signed is None else np.full(n, signed)
    return w, i, s


def hetero_graph(sizes: tuple[int, ...] = (6, 10, 5), seed: int = 0, rounding: str = "RND",
                 overflow: str = "SAT", input_type: FixedType = INPUT) -> Graph:
    """input -> per-element quant (the learned input quantizer) -> [per-weight dense -> relu ->
    per-element quant (unsigned)]* -> per-weight dense: HGQ's structure, random types."""
    from hwai.ir.numeric import covering_type
    rng = np.random.default_rng(seed)
    layers, prev = [], "x"

    def quant(name: str, n: int, signed: bool | None) -> None:
        nonlocal prev
        w, i, s = elem_types(rng, n, signed=signed)
        t = covering_type(w, i, s, rounding, overflow)
        layers.append((Node(name, "quant", (prev,), (f"{name}_out",), {"widths": w, "integers": i, "signed": s}),
                       Tensor(f"{name}_out", (n,), t)))
        prev = f"{name}_out"

    quant("input_quant", sizes[0], None)
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        codes, ww, wi, tw = hetero_weights(rng, n_in, n_out)
        b = rng.integers(-8, 8, n_out)
        layers.append((Node(f"fc{k}", "dense", (prev,), (f"fc{k}_out",),
                            {"weight": codes, "weight_type": tw, "bias": b, "bias_type": FixedType(5, 2),
                             "weight_widths": ww, "weight_integers": wi}),
                       Tensor(f"fc{k}_out", (n_out,))))
        prev = f"fc{k}_out"
        if k < len(sizes) - 1:
            layers.append((Node(f"relu{k}", "relu", (prev,), (f"relu{k}_out",)),
                           Tensor(f"relu{k}_out", (n_out,), FixedType(12, 6, False, "TRN", "WRAP"))))
            prev = f"relu{k}_out"
            quant(f"act{k}", n_out, False)
    return infer_precision(chain("hetero", Tensor("x", (sizes[0],), input_type), layers))
