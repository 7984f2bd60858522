"""hls4ml's C simulation (its g++-built bridge library) as integer codes.

Inputs go in as float64, which represents every code of a type up to 53 bits exactly,
so the bridge's ``input_t(double)`` conversion is exact. Outputs come back as doubles
(``ap_fixed::to_double`` is exact too) and are turned back into integer codes; a value
that is not on the output type's grid means hls4ml used a different type than the IR.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hwai.errors import HwaiError
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType


def to_codes(values: np.ndarray, ftype: FixedType, what: str) -> np.ndarray:
    """Exact float -> code conversion; raise if a value is off the grid or out of range."""
    codes, ok = ftype.grid_codes(values)
    if not np.all(ok):
        raise HwaiError(f"hls4ml output of {what} is not on the grid of {ftype}; the hls4ml "
                        "project does not use the IR's types (regenerate it with hwai)")
    return codes


def _float_inputs(graph: Graph, x_codes: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Real values per graph input (a list for several inputs, as hls4ml's predict takes them)."""
    from hwai.codegen.native import flat_inputs, split_inputs

    xs = split_inputs(graph, flat_inputs(graph, x_codes))
    out = [np.ascontiguousarray(graph.tensor(t).type.to_float(xs[t])) for t in graph.inputs]
    return out[0] if len(out) == 1 else out


def _predict(graph: Graph, hls_model: Any, x_codes: np.ndarray) -> np.ndarray:
    """Output codes, the graph outputs side by side in order (as :func:`hwai.codegen.native.golden_outputs`)."""
    x = _float_inputs(graph, x_codes)
    n = len(x[0]) if isinstance(x, list) else len(x)
    y = hls_model.predict(x)
    ys = y if len(graph.outputs) > 1 else [y]
    return np.concatenate([to_codes(np.asarray(v, dtype=np.float64).reshape(n, -1), graph.tensor(o).type, o)
                           for v, o in zip(ys, graph.outputs)], axis=1)


def csim_hls4ml(graph: Graph, hls_model: Any, x_codes: np.ndarray) -> np.ndarray:
    """Output codes (n, n_out) of a compiled hls4ml model on input codes ``x_codes``."""
    return _predict(graph, hls_model, x_codes)


def csim_hls4ml_project(graph: Graph, project: Path, x_codes: np.ndarray) -> np.ndarray:
    """Compile a project written by :func:`hwai.codegen.hls4ml_bridge.to_hls4ml` and run it."""
    import hls4ml

    from hwai.codegen.hls4ml_bridge import compile_hls4ml

    linked = hls4ml.converters.link_existing_project(str(project))
    _argument_order(linked, Path(project))
    compile_hls4ml(linked)
    return _predict(graph, linked, x_codes)


def _argument_order(linked: Any, project: Path) -> None:
    """Put a linked project's variables in the top function's argument order (recorded by
    :func:`hwai.codegen.hls4ml_bridge.write_io_order`; hls4ml's config lists them sorted)."""
    import json

    from hwai.codegen.hls4ml_bridge import IO_ORDER

    path = project / IO_ORDER
    if not path.is_file():
        return
    order = json.loads(path.read_text())
    for attr, key in (("in_vars", "inputs"), ("out_vars", "outputs")):
        by_name = {v.name: v for v in getattr(linked, attr)}
        setattr(linked, attr, [by_name[n] for n in order[key]])


def trace_hls4ml(graph: Graph, hls_model: Any, x_codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer output codes keyed by IR tensor name (hls4ml recompiles with tracing)."""
    from hwai.codegen.hls4ml_bridge import hls4ml_layer_tensors

    _, traced = hls_model.trace(_float_inputs(graph, x_codes))
    tensors = hls4ml_layer_tensors(graph)
    out = {}
    for layer, values in sorted(traced.items()):
        name = tensors.get(layer)
        if name is not None:
            v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
            out[name] = _trace_codes(v, graph.tensor(name).type)
    return out


def _trace_codes(values: np.ndarray, ftype: FixedType) -> np.ndarray:
    """Like :func:`to_codes`, but an off-grid value becomes qmax + 1 (never golden)."""
    codes, ok = ftype.grid_codes(values)
    return np.where(ok, codes, ftype.qmax + 1)


def trace_hls4ml_project(graph: Graph, project: Path, x_codes: np.ndarray) -> dict[str, np.ndarray]:
    """Trace needs hls4ml's full ModelGraph: convert ``graph`` again in a scratch folder."""
    from hwai.codegen.hls4ml_bridge import read_target, to_hls4ml

    with tempfile.TemporaryDirectory(prefix="hwai_trace_") as tmp:
        hls_model = to_hls4ml(graph, Path(tmp) / "hls", read_target(project), vectors=x_codes)
        return trace_hls4ml(graph, hls_model, x_codes)
