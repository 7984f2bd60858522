"""How close hls4ml's symbolic-expression project (:mod:`hwai.codegen.hls4ml_symbolic`)
comes to hwai's golden ``expr`` graph: that backend is not bit-exact by design."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.ir.graph import Graph
from hwai.ir.interp import run


def agreement(model: Any, graph: Graph, x_codes: np.ndarray) -> dict:
    """hls4ml C-sim vs hwai's golden ``expr`` graph on the same input codes (no tolerance
    hidden: exact-match fraction, max |diff| in real units, argmax agreement)."""
    tin = graph.tensor(graph.inputs[0]).type
    tout = graph.tensor(graph.outputs[0]).type
    gold = tout.to_float(run(graph, x_codes)[graph.outputs[0]])
    got = np.asarray(model.predict(np.ascontiguousarray(tin.to_float(x_codes))), dtype=np.float64)
    got = got.reshape(gold.shape)
    return {"vectors": int(len(x_codes)),
            "exact_fraction": float(np.mean(np.all(got == gold, axis=1))),
            "max_abs_diff": float(np.max(np.abs(got - gold))) if got.size else 0.0,
            "argmax_agreement": float(np.mean(np.argmax(got, 1) == np.argmax(gold, 1)))}
