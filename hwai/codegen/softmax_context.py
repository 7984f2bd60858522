"""The ``softmax`` op (:mod:`hwai.ops.softmax`) in hwai's own backends and its cost rule.

Each backend follows the golden steps literally: max, exact differences cast into the
``norm`` type, the exp table read at the difference's code, the exact sum cast into
``inv_in``, the inverse table read at its code, and one exact product per output cast into
the output type. The tables are the stored codes (:mod:`hwai.codegen.table_context` prints
them the same way as the ``table`` op's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwai.codegen.context import MAX_LITERAL_BITS, elementwise_context
from hwai.codegen.hlstypes import hls_type
from hwai.codegen.native_int import int_cast
from hwai.codegen.table_context import _rom_literal, _rows
from hwai.codegen.verilog_context import Layer, Sig, _max_chain, _register, add_cast, cast_interval, ident
from hwai.errors import HwaiError
from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.target import Target

ROLES = ("norm", "exp", "accum", "inv_in", "inv")


def _table_rows(codes: np.ndarray, t: FixedType) -> tuple[list[str], list[str]]:
    if t.width > MAX_LITERAL_BITS:
        raise HwaiError(f"{t.width}-bit table entries exceed the {MAX_LITERAL_BITS}-bit exact double literal limit")
    return _rows([repr(math.ldexp(float(q), -t.frac)) for q in codes]), _rows([str(int(q)) for q in codes])


def softmax_native(graph: Graph, node: Node, target: Target) -> dict[str, Any]:
    """Native HLS context: typedefs of the intermediate types and both tables."""
    a = node.attrs
    ctx = elementwise_context(graph, node, target)
    fn = ctx["fn"]
    tables = []
    for name, codes, t in (("exp", a.exp_table, a.exp_type), ("inv", a.inv_table, a.inv_type)):
        rows, code_rows = _table_rows(codes, t)
        tables.append({"name": f"{fn}_{name}", "t": f"{fn}_{name}_t", "size": int(codes.size),
                       "rows": rows, "code_rows": code_rows})
    return {**ctx, "tables": tables, "n": graph.tensor(node.inputs[0]).shape[-1],
            "norm_width": a.norm_type.width, "inv_in_width": a.inv_in_type.width,
            **{f"{r}_t": f"{fn}_{r}_t" for r in ROLES},
            "typedefs": [{"name": f"{fn}_{r}_t", "hls": hls_type(a.type_of(r)), "comment": f"{node.name} {r}"}
                         for r in ROLES]}


def softmax_int(graph: Graph, node: Node) -> dict[str, Any]:
    """The integer flavour: the casts as ``hwai_int::cast`` spellings."""
    a = node.attrs
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    return {"kind": "softmax", "cast_norm": int_cast(tin.frac, a.norm_type),
            "cast_inv_in": int_cast(a.exp_type.frac, a.inv_in_type),
            "cast_out": int_cast(a.exp_type.frac + a.inv_type.frac, tout),
            "exp_codes": _rows([str(int(q)) for q in a.exp_table]),
            "inv_codes": _rows([str(int(q)) for q in a.inv_table]),
            "exp_size": int(a.exp_table.size), "inv_size": int(a.inv_table.size)}


# --- Verilog ---------------------------------------------------------------------------


def _rom(layer: Layer, name: str, codes: np.ndarray, t: FixedType) -> str:
    layer.body.append({"kind": "wire", "name": name, "width": int(codes.size) * t.width,
                       "expr": _rom_literal(codes, t.width)})
    return name


def _read(layer: Layer, rom: str, idx: Sig, idx_t: FixedType, codes: np.ndarray, t: FixedType, name: str) -> Sig:
    """Unsigned entry ``rom[idx]`` zero-extended into a signed wire; interval over the
    entries the index can select."""
    seg = codes[idx.lo:idx.hi + 1]
    layer.body.append({"kind": "wire", "name": name, "width": t.width + 1,
                       "expr": f"{{1'b0, {rom}[{idx.name}[{idx_t.width - 1}:0] * {t.width} +: {t.width}]}}"})
    return Sig(name, t.width + 1, int(seg.min()), int(seg.max()), t.frac)


def _wire(layer: Layer, name: str, expr: str, lo: int, hi: int, frac: int) -> Sig:
    from hwai.ir.numeric import signed_bits
    width = signed_bits(lo, hi)
    layer.body.append({"kind": "wire", "name": name, "width": width, "expr": expr})
    return Sig(name, width, lo, hi, frac)


def softmax_verilog(graph: Graph, node: Node, xs: list[Sig]) -> tuple[Layer, list[Sig]]:
    """Combinational softmax (the golden steps as wires and hwai_cast instances), registered
    once at the output."""
    a = node.attrs
    tout = graph.tensor(node.outputs[0]).type
    layer = Layer(ident(node.name), node.op, stages=1)
    p = layer.name
    exp_rom = _rom(layer, f"{p}_exp_rom", a.exp_table, a.exp_type)
    inv_rom = _rom(layer, f"{p}_inv_rom", a.inv_table, a.inv_type)
    m = _max_chain(layer, xs, f"{p}_max")
    es = []
    for j, x in enumerate(xs):
        diff = _wire(layer, f"{p}_diff{j}", f"{m.name} - {x.name}", 0, m.hi - x.lo, x.frac)
        d = add_cast(layer, diff, a.norm_type, f"{p}_d{j}", *cast_interval(diff, a.norm_type))
        es.append(_read(layer, exp_rom, d, a.norm_type, a.exp_table, a.exp_type, f"{p}_e{j}"))
    total = _wire(layer, f"{p}_sum", " + ".join(e.name for e in es), sum(e.lo for e in es),
                  sum(e.hi for e in es), a.exp_type.frac)
    s = add_cast(layer, total, a.inv_in_type, f"{p}_s", *cast_interval(total, a.inv_in_type))
    r = _read(layer, inv_rom, s, a.inv_in_type, a.inv_table, a.inv_type, f"{p}_r")
    outs = []
    for j, e in enumerate(es):
        prod = _wire(layer, f"{p}_p{j}", f"{e.name} * {r.name}", e.lo * r.lo, e.hi * r.hi, e.frac + r.frac)
        y = add_cast(layer, prod, tout, f"{p}_y{j}", *cast_interval(prod, tout))
        outs.append(_register(layer, y, f"{ident(node.outputs[0])}_{j}"))
    return layer, outs


# --- cost ------------------------------------------------------------------------------


def _live_entries(codes: np.ndarray) -> int:
    """Entries before the table's trailing run of equal codes (exp(-d) rounds to 0 for large d:
    synthesis folds that run into one compare). Yosys, n = 5, 2**10 x 10-bit tables: 670 LUT
    + 5 DSP measured vs 1,422 LUT estimated from full ROMs, 720 LUT + 5 DSP from the live part."""
    last = np.flatnonzero(codes != codes[-1])
    return int(last[-1]) + 2 if last.size else 1


def softmax_cost(graph: Graph, node: Node, c: Any) -> tuple[Any, str]:
    """The Verilog structure, counted: n exp ROMs (their live entries) and one inverse ROM
    (LUT6 ROMs), a max chain (compare + select, two LUT bits per bit, as global_pool's max),
    n subtractors and casts, the exact sum, n products (a DSP each when both operands reach
    ``dsp_min_bits``, as Yosys maps a variable product, else a W_e*W_r/2 LUT multiplier), an
    output register; one cycle whose logic depth (fmax) is 3 levels per value of the max and sum
    chains, the two ROMs' W - 5 levels and 16 more for differences, casts and the product (Yosys:
    38 levels for n = 5 with 10-bit tables)."""
    from hwai.estimate.cost import Cost
    from hwai.estimate.rules import cast_bits, rom_luts
    from hwai.estimate.rules_mult import dsp_count

    a = node.attrs
    tin, tout = graph.tensor(node.inputs[0]).type, graph.tensor(node.outputs[0]).type
    n = graph.tensor(node.inputs[0]).shape[-1]
    wide = FixedType(tin.width + 1, tin.integer + 1)
    lut = n * rom_luts(_live_entries(a.exp_table), a.exp_type.width) + rom_luts(a.inv_table.size, a.inv_type.width)
    lut += 2.0 * tin.width * (n - 1) + n * (tin.width + 1) * c.lut_per_add_bit
    lut += c.lut_per_cast_bit * (n * cast_bits(wide, a.norm_type) + cast_bits(a.accum_type, a.inv_in_type))
    lut += (n - 1) * a.accum_type.width * c.lut_per_add_bit
    prod = FixedType(a.exp_type.width + a.inv_type.width, a.exp_type.integer + a.inv_type.integer, False)
    lut += n * c.lut_per_cast_bit * cast_bits(prod, tout)
    we, wr = sorted((a.exp_type.width, a.inv_type.width))
    dsp = n * dsp_count(we, wr, c) if we >= c.dsp_min_bits else 0
    lut += 0 if dsp else n * we * wr / 2
    levels = 3 * (n - 1) + (a.norm_type.width - 5) + (a.inv_in_type.width - 5) + 16
    return Cost(lut, float(n * tout.width), dsp, 0.0, 1, 1, c.ns_per_level * levels), \
        "softmax: ROMs, max chain, sum and products (one registered stage)"
