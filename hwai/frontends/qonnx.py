"""QONNX: export Brevitas models, convert them with hls4ml, and import them into hwai IR.

QONNX ``Quant(x, scale, zero_point, bit_width; signed, narrow, rounding_mode)`` computes
``(clip(round(x/scale + zp), min, max) - zp) * scale`` (qonnx ``custom_op/general/quant.py``);
``ROUND`` is numpy's round-half-to-even, i.e. ap_fixed ``RND_CONV``. With a power-of-two
scale and zero point 0 it is an ap_fixed cast, which :func:`lower_qonnx` emits as IR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwai.errors import MissingToolError, UnsupportedLayerError
from hwai.frontends.brevitas import DEFAULT_TYPE, INPUT_NAME, pow2_frac
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision

_ROUNDING = {"ROUND": "RND_CONV", "FLOOR": "TRN", "ROUND_TO_ZERO": "TRN_ZERO"}
_PASS = ("Identity", "Dropout", "Flatten", "Reshape", "Squeeze")
SUPPORTED_OPS = ("Quant", "Gemm", "MatMul", "Add", "Relu", "Constant") + _PASS + ("Softmax (last)",)


def export_qonnx(model: Any, path: str | Path, example_input: Any) -> Path:
    """Export a Brevitas model to QONNX with the TorchScript exporter.

    ``dynamo=False``: the dynamo exporter needs onnx-ir features missing from the
    versions compatible with TF 2.14 (see ENVIRONMENT.md).
    """
    import torch
    from brevitas.export import export_qonnx as _export

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.as_tensor(np.asarray(example_input, dtype=np.float32)).reshape(1, -1)
    _export(model.eval(), x, export_path=str(path), dynamo=False)
    return path


def qonnx_to_hls4ml(path: str | Path, out_dir: str | Path, target: Any = None,
                    granularity: str = "name") -> Any:
    """hls4ml's own QONNX path (the comparison backend), compiled and ready to ``predict``.

    Follows hls4ml's documented recipe: qonnx cleanup, channels-last, Gemm->MatMul,
    cleanup again, then ``config_from_onnx_model`` + ``convert_from_onnx_model``.
    """
    try:
        import hls4ml
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.util.cleanup import cleanup_model
    except ImportError as err:
        raise MissingToolError(f"hls4ml/qonnx not importable ({err}); "
                               "install them with: pip install hls4ml==1.3.0 qonnx==1.0.0") from None
    model = cleanup_model(ModelWrapper(str(path)))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = cleanup_model(model.transform(GemmToMatMul()))
    backend = "Vitis" if getattr(target, "flavour", "vitis") == "vitis" else "Vivado"
    config = hls4ml.utils.config.config_from_onnx_model(
        model, granularity=granularity, backend=backend, default_precision="fixed<16,6>")
    hls_model = hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(out_dir), backend=backend, hls_config=config,
        io_type=getattr(target, "io_type", "io_parallel"),
        part=getattr(target, "part", "xcvu9p-flga2104-2L-e"),
        clock_period=getattr(target, "clock_period_ns", 5.0))
    hls_model.compile()
    return hls_model


# --- import into hwai IR -----------------------------------------------------------------

class _Importer:
    """Walks an ONNX graph in node order, folding constants and emitting an IR chain."""

    def __init__(self, model: Any, input_type: FixedType | None):
        from onnx import numpy_helper

        g = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i).astype(np.float64)
                                               for i in g.initializer}
        self.qconsts: dict[str, tuple[np.ndarray, FixedType]] = {}
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise UnsupportedLayerError(f"ONNX graph has {len(inputs)} non-constant inputs; hwai imports one")
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        self.n_in = int(dims[-1])
        self.input_name = inputs[0].name
        self.input_type = input_type
        self.alias: dict[str, str] = {}
        self.layers: list[tuple[Node, Tensor]] = []
        self.cur: Tensor | None = None
        self.inexact: list[str] = []
        self.nodes = list(g.node)
        self.skip: set[int] = set()

    # IR bookkeeping
    def act(self, onnx_name: str, where: str) -> Tensor:
        name = self.alias.get(onnx_name)
        if name is None or self.cur is None or name != self.cur.name:
            raise UnsupportedLayerError(f"{where}: input {onnx_name!r} is not the previous layer's "
                                        "output; hwai imports straight chains only")
        return self.cur

    def emit(self, name: str, op: str, src: str, out_onnx: str, out_type: FixedType | None,
             size: int | None = None, **attrs: Any) -> None:
        prev = self.act(src, f"node {name!r}")
        out = Tensor(name, (size,) if size else prev.shape, out_type)
        self.layers.append((Node(name, op, (prev.name,), (name,), attrs), out))
        self.alias[out_onnx] = name
        self.cur = out


def _attr(node: Any, key: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == key:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def _ir_name(node: Any, i: int) -> str:
    base = (node.name or f"{node.op_type.lower()}_{i}").strip("/").replace("/", "_").replace(".", "_")
    return base or f"n{i}"


def _quant_type(imp: _Importer, node: Any, where: str) -> FixedType:
    scale, zp, bw = (imp.consts[n] for n in node.input[1:4])
    frac = pow2_frac(scale, where)
    if frac.size != 1 or np.any(zp != 0):
        raise UnsupportedLayerError(f"{where}: per-channel scale or non-zero zero point; "
                                    "hwai needs one power-of-two scale and zero point 0")
    signed, narrow = bool(_attr(node, "signed", 1)), bool(_attr(node, "narrow", 0))
    mode = str(_attr(node, "rounding_mode", "ROUND")).upper()
    if mode not in _ROUNDING or (narrow and not signed):
        raise UnsupportedLayerError(f"{where}: rounding {mode}/narrow unsigned has no ap_fixed equivalent")
    bits = int(bw.ravel()[0])
    return FixedType(bits, bits - int(frac[0]), signed, _ROUNDING[mode], "SAT_SYM" if narrow else "SAT")


def _on_quant(imp: _Importer, node: Any, i: int) -> None:
    where = f"ONNX node {node.name!r} (Quant)"
    t = _quant_type(imp, node, where)
    src = node.input[0]
    if src in imp.consts:  # a weight/bias quantizer: fold to integer codes
        imp.qconsts[node.output[0]] = (t.from_float(imp.consts[src]), t.exact())
    elif src == imp.input_name and imp.cur is None:
        imp.input_type = imp.input_type or t
        _start(imp)
        if imp.cur.type != t:
            imp.emit(_ir_name(node, i), "quant", src, node.output[0], t)
        else:
            imp.alias[node.output[0]] = imp.cur.name
    else:
        imp.emit(_ir_name(node, i), "quant", src, node.output[0], t)


def _start(imp: _Importer) -> None:
    if imp.cur is None:
        imp.cur = Tensor(INPUT_NAME, (imp.n_in,), imp.input_type or DEFAULT_TYPE)
        imp.alias[imp.input_name] = INPUT_NAME


def _param(imp: _Importer, name: str, layer: str) -> tuple[np.ndarray, FixedType, bool]:
    if name in imp.qconsts:
        codes, t = imp.qconsts[name]
        return codes, t, True
    if name in imp.consts:
        return DEFAULT_TYPE.from_float(imp.consts[name]), DEFAULT_TYPE, False
    raise UnsupportedLayerError(f"{layer}: parameter {name!r} is computed at run time; hwai needs constants")


def _dense(imp: _Importer, node: Any, i: int, w_name: str, trans: bool, b_name: str | None,
           out_onnx: str) -> None:
    layer = f"ONNX node {node.name!r} ({node.op_type})"
    _start(imp)
    w, tw, wq = _param(imp, w_name, layer)
    w = w.T if trans else w
    if b_name:
        b, tb, bq = _param(imp, b_name, layer)
    else:
        b, tb, bq = np.zeros(w.shape[1], np.int64), FixedType(1, 1), True
    name = _ir_name(node, i)
    if not (wq and bq):
        imp.inexact.append(name)
    imp.emit(name, "dense", node.input[0], out_onnx, None if (wq and bq) else DEFAULT_TYPE,
             size=int(w.shape[1]), weight=np.ascontiguousarray(w), weight_type=tw,
             bias=np.asarray(b).reshape(-1), bias_type=tb, accum_type=None)


def _on_gemm(imp: _Importer, node: Any, i: int) -> None:
    if _attr(node, "alpha", 1.0) != 1.0 or _attr(node, "beta", 1.0) != 1.0 or _attr(node, "transA", 0):
        raise UnsupportedLayerError(f"ONNX node {node.name!r} (Gemm): alpha/beta != 1 or transA")
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    _dense(imp, node, i, node.input[1], bool(_attr(node, "transB", 0)), bias, node.output[0])


def _on_matmul(imp: _Importer, node: Any, i: int) -> None:
    """MatMul, fused with a directly following Add of a constant (Keras-style exports)."""
    nxt = imp.nodes[i + 1] if i + 1 < len(imp.nodes) else None
    bias, out = None, node.output[0]
    if nxt is not None and nxt.op_type == "Add" and node.output[0] in nxt.input:
        other = [n for n in nxt.input if n != node.output[0]][0]
        if other in imp.consts or other in imp.qconsts:
            bias, out = other, nxt.output[0]
            imp.skip.add(i + 1)
    _dense(imp, node, i, node.input[1], False, bias, out)


def _on_relu(imp: _Importer, node: Any, i: int) -> None:
    """Relu, fused with a directly following activation Quant (Brevitas' QuantReLU export):
    cast(max(x, 0)) into the Quant's type is what the two nodes compute together."""
    _start(imp)
    nxt = imp.nodes[i + 1] if i + 1 < len(imp.nodes) else None
    if nxt is not None and nxt.op_type == "Quant" and nxt.input[0] == node.output[0] \
            and _single_consumer(imp, node.output[0]):
        t = _quant_type(imp, nxt, f"ONNX node {nxt.name!r} (Quant)")
        imp.skip.add(i + 1)
        return imp.emit(_ir_name(node, i), "relu", node.input[0], nxt.output[0], t)
    imp.emit(_ir_name(node, i), "relu", node.input[0], node.output[0], None)


def _single_consumer(imp: _Importer, tensor: str) -> bool:
    return sum(tensor in n.input for n in imp.nodes) == 1


def _on_pass(imp: _Importer, node: Any, i: int) -> None:
    _start(imp)
    imp.act(node.input[0], f"ONNX node {node.name!r}")
    imp.alias[node.output[0]] = imp.alias[node.input[0]]


def _on_constant(imp: _Importer, node: Any, i: int) -> None:
    from onnx import numpy_helper

    imp.consts[node.output[0]] = numpy_helper.to_array(_attr(node, "value")).astype(np.float64)


def _on_softmax(imp: _Importer, node: Any, i: int) -> None:
    if i != len(imp.nodes) - 1:
        raise UnsupportedLayerError(f"ONNX node {node.name!r} (Softmax) is supported only as the last node")
    _on_pass(imp, node, i)  # hwai lowers logits: the final softmax is dropped


def _on_add(imp: _Importer, node: Any, i: int) -> None:
    raise UnsupportedLayerError(f"ONNX node {node.name!r} (Add) is supported only as the bias of the "
                                "MatMul right before it (a residual or variable add is not)")


_HANDLERS = {"Quant": _on_quant, "Add": _on_add, "Gemm": _on_gemm, "MatMul": _on_matmul, "Relu": _on_relu,
             "Constant": _on_constant, "Softmax": _on_softmax, **dict.fromkeys(_PASS, _on_pass)}


def _check_ops(path: Path, nodes: list[Any]) -> None:
    """Name every unsupported op at once (first node of each), before any work is done."""
    bad: dict[str, str] = {}
    for i, node in enumerate(nodes):
        if node.op_type not in _HANDLERS:
            bad.setdefault(node.op_type, node.name or f"#{i}")
    if bad:
        found = ", ".join(f"{op} (node {name!r})" for op, name in bad.items())
        raise UnsupportedLayerError(
            f"{path.name}: unsupported ONNX ops {found}; hwai imports {', '.join(SUPPORTED_OPS)} "
            "(fold BatchNormalization into the preceding Gemm before export)")


def lower_qonnx(path: str | Path, *, name: str | None = None,
                input_type: FixedType | None = None) -> Graph:
    """Import a QONNX (or plain float ONNX) MLP into a typed IR graph of its logits.

    Quantized Gemm/MatMul layers are exact; float ones get ap_fixed<16,6,RND_CONV,SAT>
    parameters and outputs and are listed in ``graph.meta['inexact']``. Unsupported ops
    (e.g. BatchNormalization) raise UnsupportedLayerError naming the node.
    """
    import onnx

    path = Path(path)
    imp = _Importer(onnx.load(str(path)), input_type)
    _check_ops(path, imp.nodes)
    for i, node in enumerate(imp.nodes):
        if i not in imp.skip:
            _HANDLERS[node.op_type](imp, node, i)
    if not imp.layers:
        raise UnsupportedLayerError(f"{path.name}: no Gemm/MatMul layer found, nothing to import")
    meta = {"framework": "onnx", "frontend": "qonnx", "source": path.name, "inexact": imp.inexact}
    start = Tensor(INPUT_NAME, (imp.n_in,), imp.input_type or DEFAULT_TYPE)
    return infer_precision(chain(name or path.stem, start, imp.layers, meta))
