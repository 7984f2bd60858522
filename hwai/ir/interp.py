"""The golden model: a numpy interpreter over integer representations.

Every backend (hls4ml C simulation, hwai's native C++, Verilog RTL simulation) and
every framework forward pass is compared against :func:`run` by exact integer
equality. The arithmetic follows hls4ml's ``nnet_dense_latency.h`` order of
operations so that even deliberately narrow accumulators match bit for bit.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from hwai.ir import fastpath
from hwai.ir.graph import Graph, IRError, Node
from hwai.ir.numeric import accum_is_modular
from hwai.ir.types import INT64_SAFE_BITS, FixedType, requantize

IntArray = np.ndarray
Env = dict[str, IntArray]


def run(graph: Graph, inputs: IntArray | Mapping[str, IntArray], trace: bool = False) -> Env:
    """Evaluate ``graph`` on integer inputs; return the outputs (or every tensor if ``trace``).

    ``inputs`` are the stored integers of the input tensors' types, shape (batch, *shape).
    Nodes proven exact in float64 run as BLAS products (:mod:`hwai.ir.fastpath`); the
    others, and :func:`run_reference` for all, use the integer semantics below.
    """
    return fastpath.evaluate(graph, _bind_inputs(graph, inputs), eval_node, trace)


def run_reference(graph: Graph, inputs: IntArray | Mapping[str, IntArray], trace: bool = False) -> Env:
    """The integer (int64 / Python int) semantics node by node: what the fast path must equal."""
    env = _bind_inputs(graph, inputs)
    for node in graph.nodes:
        outs = eval_node(graph, node, [env[i] for i in node.inputs])
        for name, value in zip(node.outputs, outs):
            env[name] = value
    return env if trace else {o: env[o] for o in graph.outputs}


def eval_node(graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
    """One node's outputs from its integer inputs (the reference semantics)."""
    fn = _EVAL.get(node.op) or _lazy_eval(node.op)
    return fn(graph, node, xs)


def run_float(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Quantize real inputs with the input type, run, and return the first output as floats."""
    tin = graph.tensor(graph.inputs[0]).type
    tout = graph.tensor(graph.outputs[0]).type
    assert tin is not None and tout is not None
    q = tin.from_float(np.asarray(x).reshape(len(x), -1))
    return tout.to_float(run(graph, q)[graph.outputs[0]])


def _bind_inputs(graph: Graph, inputs: IntArray | Mapping[str, IntArray]) -> Env:
    if not isinstance(inputs, Mapping):
        if len(graph.inputs) != 1:
            raise IRError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; pass a dict")
        inputs = {graph.inputs[0]: inputs}
    env: Env = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        q = np.asarray(inputs[name])
        if not np.issubdtype(q.dtype, np.integer):
            raise IRError(f"input {name!r}: integer codes expected (got {q.dtype}); "
                          "use FixedType.from_float or run_float for real values")
        q = q.reshape(len(q), t.size).astype(np.int64)
        if t.type is not None and not t.type.contains(q):
            raise IRError(f"input {name!r}: codes outside {t.type}")
        env[name] = q
    return env


# --- op semantics ------------------------------------------------------------

def _dense(graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
    x = xs[0]
    tx = graph.tensor(node.inputs[0]).type
    tout = graph.tensor(node.outputs[0]).type
    w = np.asarray(node.attrs["weight"], dtype=np.int64)
    b = np.asarray(node.attrs["bias"], dtype=np.int64)
    tw: FixedType = node.attrs["weight_type"]
    tb: FixedType = node.attrs["bias_type"]
    ta: FixedType = node.attrs["accum_type"]
    fp = tx.frac + tw.frac  # a full-precision product has fx + fw fractional bits
    if accum_is_modular(ta, fp, tb.frac):
        acc = _exact_dot(x, w, tx, tw) * (1 << (ta.frac - fp)) if ta.frac >= fp else None
        acc = acc + (b << (ta.frac - tb.frac))
        acc = requantize(acc, ta.frac, ta)  # wrap (or identity when wide enough)
    else:
        acc = _sequential_accumulate(x, w, b, fp, tb, ta)
    return [requantize(acc, ta.frac, tout)]


def _exact_dot(x: IntArray, w: IntArray, tx: FixedType, tw: FixedType) -> IntArray:
    bound = tx.width + tw.width + int(w.shape[0]).bit_length()
    if bound <= INT64_SAFE_BITS:
        return x @ w
    return x.astype(object) @ w.astype(object)


def _sequential_accumulate(x: IntArray, w: IntArray, b: IntArray, fp: int,
                           tb: FixedType, ta: FixedType) -> IntArray:
    """hls4ml's loop order with a cast after every product and every addition."""
    acc = np.broadcast_to(requantize(b, tb.frac, ta), (x.shape[0], w.shape[1])).copy()
    for i in range(w.shape[0]):
        prod = requantize(np.outer(x[:, i], w[i]), fp, ta)
        acc = requantize(acc + prod, ta.frac, ta)
    return acc


def _relu(graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
    tx = graph.tensor(node.inputs[0]).type
    tout = graph.tensor(node.outputs[0]).type
    return [requantize(np.maximum(xs[0], 0), tx.frac, tout)]


def _quant(graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
    tx = graph.tensor(node.inputs[0]).type
    tout = graph.tensor(node.outputs[0]).type
    return [requantize(xs[0], tx.frac, tout)]


_EVAL: dict[str, Callable[[Graph, Node, list[IntArray]], list[IntArray]]] = {
    "dense": _dense, "relu": _relu, "quant": _quant,
}


def _lazy_eval(op: str):
    if op == "expr":  # symbolic expressions live in their own module (imports sympy)
        from hwai.ir.expr import evaluate_node
        return evaluate_node
    raise IRError(f"golden interpreter has no semantics for op {op!r}")
