"""The hls4ml bridge: the only module in hwai that knows hls4ml's config dicts.

hls4ml is not bit-exact on QKeras models by default because it *guesses* types
(``granularity='model'``: one ap_fixed<16,6> for everything; ``'name'``: types from the
quantizers but default accumulators). hwai instead prints every precision hls4ml uses
(input, and per Dense: weight, bias, accum, result; per activation: result) from the IR,
where each type is exact, and then asserts after conversion that hls4ml's optimizer
passes changed none of them. hls4ml's C simulation then equals
:func:`hwai.ir.interp.run` bit for bit.

The IR is handed to hls4ml as its own layer list (:mod:`hwai.codegen.hls4ml_layers`,
``ModelGraph.from_layer_list``; no TensorFlow or torch model is built): ``Dense`` layers
whose weights are exactly the fixed-point values, ``Activation('relu')`` and, for a
quantizer that cannot be fused into the layer before it, ``Activation('linear')`` with
its own result type (hls4ml keeps a linear activation whose output precision differs
from its input: ``EliminateLinearActivation`` in hls4ml/model/optimizer/passes/linear.py).

A quant whose elements have their own types (HGQ-style) becomes hls4ml's own
``FixedPointQuantizer`` (io_parallel only), one ``ap_[u]fixed<b_i, i_i>`` cast per element
into the covering result type. hwai keeps hls4ml's ``BitExact`` flow off, so hls4ml neither
re-derives the types around it nor fuses it into the layer before (``fuse_fixed_point_quantizer``
only acts after that flow); :func:`check_types` would name the layer if a pass removed it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from hwai.codegen.context import check_rank1
from hwai.codegen.conv_context import absorbed_windows
from hwai.codegen.hls4ml_layers import (
    FIXED_POINT_QUANTIZER,
    HlsLayer,
    compile_project,
    convert_layer_list,
    write_project,
)
from hwai.codegen.hlstypes import hls_type
from hwai.errors import HwaiError, UnsupportedLayerError
from hwai.ir.graph import Graph, Node
from hwai.ir.interp import run
from hwai.ir.registry import op_of
from hwai.ir.types import FixedType
from hwai.names import hls4ml_renames
from hwai.target import Target

# hls4ml needs some model-wide default; every variable that matters is set per layer
# and checked after conversion, so this one only reaches unused attributes.
_MODEL_DEFAULT = "ap_fixed<16,6>"
N_TB_VECTORS = 1000
# layers hls4ml's io_stream passes add that copy codes between streams (see _stream_copy)
STREAM_COPIES = frozenset({"ZeroPadding1D", "ZeroPadding2D", "Repack", "Broadcast", "Clone"})
REPACK_PREFIX = "repack_"


def plan_layers(graph: Graph) -> list[HlsLayer]:
    """Map IR nodes to hls4ml layers, fusing a quant into its producer when exact.

    ``dense -> quant``: hls4ml's dense ends with ``res = (res_T) acc`` (nnet_dense_latency.h),
    so giving the dense the quant's result type casts once; that equals the IR's two casts
    when the dense's own output type holds the accumulator losslessly (what
    infer_precision produces). Same for ``relu -> quant``.
    """
    fused: dict[str, str] = {}       # producer node -> quant node fused into it
    kinds = {}
    for node in graph.nodes:
        check_rank1(graph, node, "hls4ml")
        kinds[node.name] = op_of(node).hls4ml_kind(node)
        if kinds[node.name] == "linear" and _fusable(graph, node):
            fused[graph.producer(node.inputs[0]).name] = node.name
    absorbed = set(fused.values()) | absorbed_windows(graph)   # patches: inside the Conv
    plan = []
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        out = graph.node(fused[node.name]).outputs[0] if node.name in fused else node.outputs[0]
        plan.append(HlsLayer(node.name, kinds[node.name], node, out, graph.tensor(out).type))
    _check_names(graph, plan)
    return plan


def _fusable(graph: Graph, quant: Node) -> bool:
    src = quant.inputs[0]
    prod = graph.producer(src)
    cast = None if prod is None else op_of(prod).hls4ml_before_cast(graph, prod)
    if cast is None or src in graph.outputs:
        return False
    if [c.name for c in graph.consumers(src)] != [quant.name]:
        return False
    t = graph.tensor(src).type
    before, lo = cast
    return t.frac >= before.frac and t.min_value <= lo and t.max_value >= before.max_value


def check_io_type(plan: list[HlsLayer], target: Target, graph: Graph | None = None) -> None:
    """hls4ml builds its per-element quantizer for io_parallel only
    (hls4ml/backends/fpga/passes/hgq_proxy_model.py), and some of its stream kernels assert
    on settings their parallel twins take (``Op.hls4ml_stream_blocker``): say so before it
    raises, or before an ``assert`` in its C simulation ends the process."""
    hetero = [l.name for l in plan if l.kind == FIXED_POINT_QUANTIZER]
    if hetero and target.io_type != "io_parallel":
        raise UnsupportedLayerError(f"node {hetero[0]!r}: hls4ml builds per-element quantizers only with "
                                    f"io_type io_parallel (target has {target.io_type}); set "
                                    "target.io_type: io_parallel or use the native backend")
    if target.io_type != "io_stream":
        return
    for l in plan:
        why = op_of(l.node).hls4ml_stream_blocker(graph, l.node)
        if why:
            raise UnsupportedLayerError(f"node {l.name!r}: {why}; set target.io_type: io_parallel "
                                        "or use the native backend")


# --- reuse factor ----------------------------------------------------------------------

def layer_reuse(graph: Graph, layer: HlsLayer) -> dict[str, Any]:
    """hls4ml's ``ReuseFactor`` and ``Strategy`` of a layer that shares multipliers.

    Reuse factor 1: ``Latency`` (every product at once). Above 1, hls4ml's ``Resource``
    strategy (nnet_dense_resource.h: the weights in BRAM/LUTRAM, ``block_factor`` products per
    cycle for RF cycles) is what it is built for, but it adds the products of an output in
    another order than ``dense_latency`` (input ``ir, ir+RF, ...`` for each cycle ``ir``), so
    it is exact only where the sum's order is free (a wrapping accumulator holding every
    term); otherwise the layer keeps ``Latency``, whose ``ALLOCATION`` limit shares the
    multipliers at ``II = RF`` in the golden model's order."""
    rf = int(layer.node.impl.get("reuse_factor", 1))
    if rf == 1 or not op_of(layer.node).sum_order_free(graph, layer.node):
        return {"ReuseFactor": rf, "Strategy": "Latency"}
    n_in, n_out = (int(d) for d in op_of(layer.node).weights(layer.node)[0].shape)
    check_resource_reuse(layer.name, n_in, n_out, rf)
    return {"ReuseFactor": rf, "Strategy": "Resource"}


def check_resource_reuse(name: str, n_in: int, n_out: int, rf: int) -> None:
    """hls4ml's Resource kernels take only reuse factors that split the n_in x n_out products
    evenly (``FPGABackend._validate_reuse_factor``) and silently pick the closest valid one
    otherwise; refuse instead, listing the valid ones."""
    from hls4ml.backends import get_backend

    backend = get_backend("Vivado")   # the rule lives in FPGABackend, shared by Vivado and Vitis
    if backend._validate_reuse_factor(n_in, n_out, rf):
        return
    valid = backend.get_valid_reuse_factors(n_in, n_out)
    near = sorted(sorted(valid, key=lambda v: (abs(v - rf), v))[:8])
    raise UnsupportedLayerError(f"node {name!r}: hls4ml's Resource strategy (reuse_factor > 1) splits the "
                                f"{n_in}x{n_out} products of this layer only by {', '.join(map(str, near))} "
                                f"(nearest valid reuse factors), not {rf}; set "
                                f"steps.lower.layers.{name}.reuse_factor to one of them")


def check_reuse(plan: list[HlsLayer], config: dict[str, Any], hls_model: Any) -> None:
    """Raise if hls4ml built a layer with another reuse factor or strategy than hwai asked for."""
    bad = []
    for l in plan:
        cfg = config["LayerName"][l.name]
        if "ReuseFactor" not in cfg:
            continue
        layer = _hls_layer(hls_model, l.name)
        got = (int(layer.get_attr("reuse_factor")), str(layer.get_attr("strategy")).lower())
        if got != (cfg["ReuseFactor"], cfg["Strategy"].lower()):
            bad.append(f"{l.name}: reuse_factor/strategy {cfg['ReuseFactor']}/{cfg['Strategy']} "
                       f"vs hls4ml {got[0]}/{got[1]}")
    if bad:
        raise HwaiError("hls4ml changed the design hwai configured: " + "; ".join(bad))


def _check_names(graph: Graph, plan: list[HlsLayer]) -> None:
    # hls4ml splits a Dense into '<name>' + '<name>_linear'; a clash would merge layers
    names = {l.name for l in plan} | set(graph.inputs)
    for l in plan:
        for extra in [*op_of(l.node).hls4ml_extra_layers(l, ""), *op_of(l.node).hls4ml_inner_layers(graph, l)]:
            if extra in names:
                raise HwaiError(f"node name {extra} clashes with hls4ml's activation for "
                                f"{l.node.op} {l.name!r}; rename the node")


def _reserved_renames(graph: Graph) -> dict[str, str]:
    return hls4ml_renames(graph.tensors)


def hls4ml_safe(graph: Graph) -> Graph:
    """The same graph with tensor names hls4ml accepts (names only; numerics untouched)."""
    from hwai.passes.pipeline import rename_tensors

    return rename_tensors(graph, _reserved_renames(graph))


def hls4ml_layer_tensors(graph: Graph) -> dict[str, str]:
    """hls4ml layer name -> IR tensor (of ``graph``) its output equals (for trace comparison)."""
    back = {v: k for k, v in _reserved_renames(graph).items()}
    safe = hls4ml_safe(graph)
    out = {t: t for t in safe.inputs}
    for l in plan_layers(safe):   # with io_stream a Reshape may be traced as its Repack
        out.update({l.name: l.tensor, f"{REPACK_PREFIX}{l.name}": l.tensor})
    return {k: back.get(v, v) for k, v in out.items()}


# --- config ------------------------------------------------------------------------

def hls_config(graph: Graph, plan: list[HlsLayer]) -> dict[str, Any]:
    """hls4ml's ``hls_config`` (granularity 'name'): every precision printed from the IR."""
    layers: dict[str, Any] = {t: {"Precision": {"result": hls_type(graph.tensor(t).type)}, "Trace": True}
                              for t in graph.inputs}
    for l in plan:
        cfg: dict[str, Any] = {"Precision": {"result": hls_type(l.result)}, "Trace": True}
        op = op_of(l.node)
        cfg["Precision"].update({k: hls_type(t) for k, t in op.hls4ml_precision(l).items()})
        cfg.update(op.hls4ml_config(l))
        if op.reusable:
            cfg.update(layer_reuse(graph, l))
        layers.update(op.hls4ml_extra_layers(l, hls_type(l.result)))
        layers.update({name: {"Precision": {"result": hls_type(t)}, "Trace": True}
                       for name, t in op.hls4ml_inner_layers(graph, l).items()})
        layers[l.name] = cfg
    return {"Model": {"Precision": {"default": _MODEL_DEFAULT}, "ReuseFactor": 1,
                      "Strategy": "Latency", "BramFactor": 1_000_000_000, "TraceOutput": False},
            "LayerName": layers}


# --- conversion ----------------------------------------------------------------------

def to_hls4ml(graph: Graph, out_dir: Path, target: Target, vectors: np.ndarray) -> Any:
    """Convert ``graph`` to an hls4ml ModelGraph and write the project (not compiled).

    The project folder is a complete handoff: ``tb_data/`` holds golden test vectors
    (``vectors``: input codes, e.g. :data:`N_TB_VECTORS` from :func:`hwai.sim.vectors.make_vectors`,
    which sits in the layer above this one) for hls4ml's testbench and ``build_prj.tcl``.
    """
    graph = hls4ml_safe(graph.validate())
    plan = plan_layers(graph)
    check_io_type(plan, target, graph)
    _neutralize_global_overrides()
    config = hls_config(graph, plan)
    hls_model = convert_layer_list(graph, plan, config, Path(out_dir), target)
    check_types(graph, plan, hls_model)
    check_reuse(plan, config, hls_model)
    write_project(hls_model)
    write_io_order(hls_model, Path(out_dir))
    write_tb_data(graph, Path(out_dir), vectors)
    write_preprocessing(graph, Path(out_dir), target.project_name)
    return hls_model


IO_ORDER = "hwai_io_order.json"


def write_io_order(hls_model: Any, out_dir: Path) -> None:
    """The top function's input and output variables in argument order: hls4ml's config file
    lists their shapes by name in sorted order, which a linked project would take as the order."""
    import json

    order = {"inputs": [v.name for v in hls_model.get_input_variables()],
             "outputs": [v.name for v in hls_model.get_output_variables()]}
    (out_dir / IO_ORDER).write_text(json.dumps(order, indent=1) + "\n")


def write_preprocessing(graph: Graph, out_dir: Path, project: str) -> None:
    """The handoff's input preprocessing: ``hwai_preprocess.h`` and a README.md with its table."""
    from hwai.codegen import preprocess

    for name, text in preprocess.project_files(graph).items():
        (out_dir / name).write_text(text)
    readme = preprocess.hls_readme(graph, project)
    if readme is not None:
        (out_dir / "README.md").write_text(readme)


def compile_hls4ml(hls_model: Any) -> float:
    """Build hls4ml's C simulation library with g++; returns the build time in seconds."""
    from hwai.errors import require_tool

    require_tool("g++", "apt-get install g++")
    t0 = time.perf_counter()
    compile_project(hls_model)
    return time.perf_counter() - t0


def _neutralize_global_overrides() -> None:
    """hls4ml's ``output_rounding_saturation_mode`` pass is configured process-wide
    (``get_optimizer(...).configure(layers=...)``); reset it so no earlier caller can
    rewrite the rounding/saturation of the types hwai sets."""
    from hls4ml.model.optimizer import get_optimizer

    get_optimizer("output_rounding_saturation_mode").configure(
        layers=[], rounding_mode=None, saturation_mode=None, saturation_bits=None)


def read_target(project: Path) -> Target:
    """The Target a project written by :func:`to_hls4ml` was made for (hls4ml_config.yml)."""
    import yaml

    text = (Path(project) / "hls4ml_config.yml").read_text()
    # projects written before the layer-list path name their Keras shadow model; ignore it
    yaml.add_multi_constructor("!keras_model", lambda loader, suffix, node: None, Loader=yaml.SafeLoader)
    cfg = yaml.safe_load(text)
    return Target(part=cfg["Part"], clock_period_ns=float(cfg["ClockPeriod"]), io_type=cfg["IOType"],
                  flavour="vitis" if cfg["Backend"] == "Vitis" else "vivado",
                  project_name=cfg["ProjectName"])


# --- type check ----------------------------------------------------------------------

def _same(precision: Any, t: FixedType) -> bool:
    from hls4ml.model.types import FixedPrecisionType

    p = precision  # after vivado:transform_types a subclass that also prints the C++ type
    return (isinstance(p, FixedPrecisionType) and p.width == t.width
            and p.integer == t.integer and bool(p.signed) == t.signed
            and p.rounding_mode.name == t.rounding and p.saturation_mode.name == t.overflow
            and not p.saturation_bits)


def hls4ml_types(hls_model: Any, plan: list[HlsLayer], graph: Graph) -> dict[str, Any]:
    """The precisions hls4ml will print, keyed like ``'fc1.accum'``."""
    out = {_input_key(k): v.type.precision for k, v in enumerate(hls_model.get_input_variables())}
    for l in plan:
        layer = _hls_layer(hls_model, l.name)
        out[f"{l.name}.result"] = layer.get_output_variable().type.precision
        out.update({f"{l.name}.{k}": p for k, p in op_of(l.node).hls4ml_types(layer, l).items()})
        for name in op_of(l.node).hls4ml_inner_layers(graph, l):
            out[f"{name}.result"] = _hls_layer(hls_model, name).get_output_variable().type.precision
    return out


def _hls_layer(hls_model: Any, name: str) -> Any:
    """The hls4ml layer computing plan layer ``name``; with io_stream a Reshape whose output
    has rank > 1 (or is a model output) is replaced by a ``Repack`` (fpga/passes/repack_stream.py)."""
    layer = hls_model.graph.get(name) or hls_model.graph.get(f"{REPACK_PREFIX}{name}")
    if layer is None:
        raise HwaiError(f"hls4ml removed layer {name!r}; its cast would be lost")
    return layer


def _stream_copy(layer: Any) -> bool:
    """A layer hls4ml's io_stream passes insert that only moves codes (zero padding before a
    'same' Conv: vivado/passes/conv_same_pad.py; ``Repack``/``Broadcast`` between streams of
    different packing), kept only when its output type is its input's, so no value is cast."""
    if not {c.__name__ for c in type(layer).__mro__} & STREAM_COPIES:   # backends subclass them
        return False
    src, out = layer.get_input_variable().type.precision, layer.get_output_variable().type.precision
    return str(src) == str(out)


def _input_key(k: int) -> str:
    """``input.result`` for the first graph input, ``input<k>.result`` for the others."""
    return f"input{k or ''}.result"


def check_types(graph: Graph, plan: list[HlsLayer], hls_model: Any) -> None:
    """Raise if any hls4ml optimizer pass changed a type hwai set, or left a layer in."""
    want = {_input_key(k): graph.tensor(t).type for k, t in enumerate(graph.inputs)}
    inner: set[str] = set()
    for l in plan:
        want[f"{l.name}.result"] = l.result
        want.update({f"{l.name}.{k}": t for k, t in op_of(l.node).hls4ml_precision(l).items()})
        for name, t in op_of(l.node).hls4ml_inner_layers(graph, l).items():
            want[f"{name}.result"] = t
            inner.add(name)
    got = hls4ml_types(hls_model, plan, graph)
    bad = [f"{k}: IR {hls_type(t)} vs hls4ml {got[k]}" for k, t in want.items() if not _same(got[k], t)]
    ours = {_hls_layer(hls_model, l.name).name for l in plan} | set(graph.inputs) | inner
    extra = [e for e in sorted(set(hls_model.graph) - ours) if not _stream_copy(hls_model.graph[e])]
    if bad or extra:
        raise HwaiError("hls4ml changed the design hwai configured: "
                        + "; ".join(bad + [f"unexpected layer {e}" for e in extra]))


# --- testbench data ----------------------------------------------------------------------

def write_tb_data(graph: Graph, out_dir: Path, codes: np.ndarray) -> tuple[Path, Path]:
    """Golden input/output vectors in hls4ml's testbench format (one vector per line; several
    inputs or outputs side by side in graph order, as its testbench reads them)."""
    from hwai.codegen.native import flat_inputs, split_inputs

    flat = flat_inputs(graph, codes)
    xs = split_inputs(graph, flat)
    y = run(graph, xs)
    ins = [graph.tensor(t).type.to_float(xs[t]) for t in graph.inputs]
    outs = [graph.tensor(t).type.to_float(np.asarray(y[t]).reshape(len(flat), -1)) for t in graph.outputs]
    folder = Path(out_dir) / "tb_data"
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "tb_input_features.dat", folder / "tb_output_predictions.dat"
    for path, parts in zip(paths, (ins, outs)):
        values = np.concatenate(parts, axis=1)   # a shaped tensor: row-major, as the firmware port
        path.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in values))
    return paths
