"""The golden model: a numpy interpreter over integer representations.

Every backend (hls4ml C simulation, hwai's native C++, Verilog RTL simulation) and
every framework forward pass is compared against :func:`run` by exact integer
equality. The arithmetic follows hls4ml's ``nnet_dense_latency.h`` order of
operations so that even deliberately narrow accumulators match bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from hwai.ir import fastpath
from hwai.ir.graph import Graph, IRError, Node
from hwai.ir.registry import op_of

IntArray = np.ndarray
Env = dict[str, IntArray]


def run(graph: Graph, inputs: IntArray | Mapping[str, IntArray], trace: bool = False) -> Env:
    """Evaluate ``graph`` on integer inputs; return the outputs (or every tensor if ``trace``).

    ``inputs`` are the stored integers of the input tensors' types, shape (batch, *shape)
    (or (batch, size): rows are reshaped to the tensor's shape).
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
    return op_of(node).evaluate(graph, node, xs)


def run_float(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Quantize real inputs with the input types, run, and return the first output as floats.
    Several inputs: ``x`` holds them side by side per row, each flattened, in graph order."""
    tout = graph.tensor(graph.outputs[0]).type
    assert tout is not None
    return tout.to_float(run(graph, input_codes(graph, x))[graph.outputs[0]])


def run_float_outputs(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    """:func:`run_float` for every graph output, in graph order: (N, size) floats each."""
    env = run(graph, input_codes(graph, x))
    return [graph.tensor(o).type.to_float(env[o]).reshape(len(x), -1) for o in graph.outputs]


def input_codes(graph: Graph, x: np.ndarray) -> dict[str, IntArray]:
    """Each input's codes of real rows ``x`` (graph inputs side by side, each flattened)."""
    x = np.asarray(x).reshape(len(x), -1)
    if len(graph.inputs) == 1:
        return {graph.inputs[0]: graph.tensor(graph.inputs[0]).type.from_float(x)}
    out, col = {}, 0
    for name in graph.inputs:
        t = graph.tensor(name)
        assert t.type is not None
        out[name] = t.type.from_float(x[:, col:col + t.size])
        col += t.size
    if col != x.shape[1]:
        raise IRError(f"graph {graph.name!r} takes {col} input values per row, got {x.shape[1]}")
    return out


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
        q = q.reshape((len(q),) + tuple(t.shape)).astype(np.int64)
        if t.type is not None and not t.type.contains(q):
            raise IRError(f"input {name!r}: codes outside {t.type}")
        env[name] = q
    return env
