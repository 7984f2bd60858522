"""Keras/QKeras activations that become lookup tables (the ``table`` op).

- Float ``sigmoid`` / ``tanh`` (``Activation``, ``Dense(activation=...)``): the argument is
  cast to the function's index type (:func:`hwai.ir.tables.index_type`, ``lower: {table:
  {bits}}``) by a ``quant`` node, then read from the table hwai fills
  (:func:`hwai.ir.tables.build_table`); the golden model differs from Keras by at most
  :func:`hwai.ir.tables.error_bound`.
- QKeras ``QActivation`` with ``quantized_tanh``, ``quantized_sigmoid`` or ``hard_sigmoid``:
  a function of its (already quantized) input codes, so the table is the quantizer itself
  evaluated by QKeras on every input code: golden == QKeras exactly. It needs a typed input
  of at most :data:`hwai.ir.tables.MAX_TABLE_BITS` bits (e.g. a ``quantized_bits``
  QActivation before it); otherwise it is refused in one line.
- A final ``softmax`` with ``lower: {output: softmax}``: the ``softmax`` op (hls4ml's
  ``softmax_stable`` with hwai's tables; :mod:`hwai.ops.softmax`). Without it the firmware
  outputs the logits (argmax unchanged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.frontends import keras_layers as kl
from hwai.ir import tables
from hwai.ir.numeric import type_for_range
from hwai.ir.types import FixedType, frac_bits_needed


def table_options(cfg: Any) -> tuple[int, int | None]:
    """(index bits, entry width) from the recipe's ``lower: {table: {bits, width}}``."""
    cfg = dict(cfg or {})
    return int(cfg.get("bits") or tables.DEFAULT_TABLE_BITS), cfg.get("width")


def function_table(function: str, bits: int, width: int | None) -> tuple[FixedType, FixedType, np.ndarray]:
    """(index type, entry type, table) of a float activation."""
    tidx = tables.index_type(function, bits)
    tout = tables.output_type(function, int(width or bits))
    return tidx, tout, tables.build_table(function, tidx, tout)


def quantizer_table(layer: Any, tin: FixedType | None) -> tuple[FixedType, np.ndarray]:
    """(entry type, table): the QActivation evaluated by QKeras on every code of ``tin``."""
    if tin is None or tin.width > tables.MAX_TABLE_BITS:
        got = "an unquantized input" if tin is None else f"a {tin.width}-bit input"
        raise kl.unsupported(layer, f"{_name(layer)} is tabulated over its input codes and needs a quantized "
                                    f"input of at most {tables.MAX_TABLE_BITS} bits (got {got}); put a "
                                    "QActivation(quantized_bits(...)) before it")
    import tensorflow as tf

    x = tin.to_float(tables.input_codes(tin)).astype(np.float32)
    values = np.asarray(layer(tf.constant(x.reshape(1, -1)), training=False), dtype=np.float64).ravel()
    try:
        frac = frac_bits_needed(values, max_frac=kl.MAX_WEIGHT_BITS)
    except ValueError:
        raise kl.unsupported(layer, f"{_name(layer)} gives values off a power-of-two grid") from None
    codes = np.ldexp(values, frac).astype(np.int64)
    return type_for_range(int(codes.min()), int(codes.max()), frac), codes


def check_planned_input(layer: Any, prev: Any) -> None:
    """Before any training: a tabulated QActivation must follow a quantizing activation (or be
    the first layer; the input type is checked at lowering). ``prev``: the plan step before it."""
    if prev is None or prev.kind == "qtable":
        return
    if prev.role == "activation" and prev.qtype is not None and prev.qtype.width <= tables.MAX_TABLE_BITS:
        return
    quantizer_table(layer, None)     # raises the one-line refusal


def emit_softmax(em: Any, keras_name: str) -> None:
    """A final softmax kept in firmware (``lower: {output: softmax}``): hwai's ``softmax`` op
    with the tables of :func:`hwai.ir.tables.softmax_types` (index bits and entry width from
    ``lower: {table}``); the output has the exp entries' type, ap_ufixed<W, 1> (values in [0, 1])."""
    bits, width = em.table
    types = tables.softmax_types(int(em.shape[-1]), bits, width)
    em.flush_float()
    em.emit(keras_name, "softmax", keras_name, types["exp"], **{f"{k}_type": t for k, t in types.items()},
            exp_table=tables.softmax_exp_table(types["norm"], types["exp"]),
            inv_table=tables.softmax_inv_table(types["inv_in"], types["inv"]))


def _name(layer: Any) -> str:
    q = getattr(layer, "quantizer", None)
    return str(q) if q is not None and hasattr(q, "get_config") else getattr(q, "__name__", "the activation")


def emit_table(em: Any, layer: Any, keras_name: str, node_name: str, kind: str) -> None:
    """Emit ``quant`` (float functions: the index cast) + ``table`` nodes for ``kind``
    (``table:<function>`` or ``qtable``) on the emitter's current tensor."""
    if kind == "qtable":
        if layer is None:   # only a QActivation carries a quantizer
            raise UnsupportedLayerError(f"layer {keras_name!r}: a quantized activation table needs its layer")
        tout, table = quantizer_table(layer, em.current_type)
        em.emit(node_name, "table", keras_name, tout, function=_name(layer), table=table)
        return
    function = kind.split(":", 1)[1]
    tidx, tout, table = function_table(function, *em.table)
    em.emit(f"{node_name}_index", "quant", keras_name, tidx)
    em.emit(node_name, "table", keras_name, tout, function=function, table=table)
