"""Exact comparison of a simulation's output codes with the golden interpreter.

No tolerance anywhere: outputs are integer codes of the output type and must be equal.
With a per-layer trace the report names the first layer (in graph order) whose
output differs, which is where a wrong type or rounding mode lives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwai.codegen.native import split_inputs
from hwai.errors import MismatchError
from hwai.ir.graph import Graph
from hwai.ir.interp import run


@dataclass(frozen=True)
class MismatchReport:
    """Outcome of one exact comparison (``summary`` is a one-line message)."""

    n_vectors: int
    n_mismatches: int               # vectors with at least one differing output code
    first_index: int | None         # first mismatching vector
    first_layer: str | None         # first diverging IR tensor (needs a trace)
    max_abs_diff_lsb: int           # largest |got - golden| in output LSBs
    summary: str

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0

    def raise_if_mismatch(self) -> MismatchReport:
        if self.n_mismatches:
            raise MismatchError(self.summary)
        return self


def compare(graph: Graph, x_codes: np.ndarray, got: np.ndarray,
            trace: dict[str, np.ndarray] | None = None) -> MismatchReport:
    """Compare output codes ``got`` (n, n_out) with the golden model on ``x_codes``.

    ``trace`` maps IR tensor names to codes (n_traced, size) for the first vectors (a
    trace may cover only a prefix, e.g. just the first mismatching vector).
    """
    x = np.asarray(x_codes, dtype=np.int64)
    feed = x if len(graph.inputs) == 1 else split_inputs(graph, x.reshape(len(x), -1))
    golden = run(graph, feed, trace=trace is not None)
    # several outputs side by side in graph order (hwai.codegen.native.golden_outputs)
    want = np.concatenate([np.asarray(golden[o]).reshape(len(x), -1) for o in graph.outputs], axis=1)
    got = np.asarray(got).reshape(want.shape)
    bad = np.any(got != want, axis=1)
    n_bad = int(bad.sum())
    first = int(np.argmax(bad)) if n_bad else None
    diff = int(np.abs(got.astype(object) - want.astype(object)).max(initial=0)) if want.size else 0
    layer = _first_layer(graph, golden, trace, x, first) if trace is not None else None
    return MismatchReport(len(x), n_bad, first, layer, diff, _summary(len(x), n_bad, first, layer, diff))


def _first_layer(graph: Graph, golden: dict, trace: dict[str, np.ndarray], x: np.ndarray,
                 first: int | None) -> str | None:
    """First tensor in graph order whose traced codes differ from the golden ones."""
    for node in graph.nodes:
        for name in node.outputs:
            if name not in trace:
                continue
            got = np.asarray(trace[name])
            ref = _golden_rows(golden[name], x, got, first)
            if ref is not None and np.any(got.reshape(ref.shape) != ref):
                return name
    return None


def _golden_rows(ref: np.ndarray, x: np.ndarray, got: np.ndarray, first: int | None) -> np.ndarray | None:
    """Golden rows matching a trace: all vectors, or just the first mismatching one."""
    ref = np.asarray(ref).reshape(len(x), -1)
    rows = got.shape[0] if got.ndim > 1 else 1
    if rows == len(x):
        return ref
    if rows == 1 and first is not None:
        return ref[first:first + 1]
    return ref[:rows] if rows <= len(x) else None


def _summary(n: int, n_bad: int, first: int | None, layer: str | None, diff: int) -> str:
    if n_bad == 0:
        return f"0/{n} vectors differ from the golden model (bit-exact)"
    where = f", first diverging layer {layer}" if layer else ""
    return (f"{n_bad}/{n} vectors differ from the golden model (first #{first}{where}, "
            f"max |diff| {diff} LSB)")
