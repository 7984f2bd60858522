"""One cost rule per IR op, plus the constant-multiplier analysis shared with codegen.

The multiplier classification (:func:`mult_kind`) is *the same function* the Verilog
emitter uses to decide between a DSP product and a shift-add network, so the DSP count
of an estimate equals what synthesis of hwai's Verilog produces (DSP exactness is then
a test of the emitter, not luck).
"""

from __future__ import annotations

import math

import numpy as np

from hwai.estimate.cost import Coefficients, Cost
from hwai.ir.graph import Graph, Node
from hwai.ir.types import FixedType
from hwai.target import Target

# --- constant multipliers ----------------------------------------------------


def csd(v: int) -> list[tuple[int, int]]:
    """Canonical signed-digit form of ``v`` as ``(shift, sign)`` pairs, low digit first.

    CSD has the fewest non-zero digits of any signed-binary form (Reitwiesner 1960), so
    a constant multiply costs ``len(csd(w)) - 1`` adders — the standard multiplierless
    constant-multiplication baseline (also da4ml's starting point).
    """
    digits, k, v = [], 0, int(v)
    while v != 0:
        if v & 1:
            d = 2 - (v & 3)           # +1 if v = 1 mod 4, -1 if v = 3 mod 4
            digits.append((k, d))
            v -= d
        v >>= 1
        k += 1
    return digits


def odd_bits(v: int) -> int:
    """Bits of the odd part of |v|: the multiplier work a constant really needs."""
    a = abs(int(v))
    if a == 0:
        return 0
    return (a >> ((a & -a).bit_length() - 1)).bit_length()


def mult_kind(w: int, x_bits: int, coeffs: Coefficients) -> str:
    """'zero' (no hardware), 'shift' (±2^k: wiring), 'dsp' or 'lut' (shift-add)."""
    if w == 0:
        return "zero"
    nb = odd_bits(w)
    if nb == 1:
        return "shift"
    # Vivado HLS rule of thumb: DSP only when both operands exceed ~10 bits (sign included).
    if x_bits > coeffs.dsp_min_bits and nb + 1 > coeffs.dsp_min_bits:
        return "dsp"
    return "lut"


def dsp_count(a_bits: int, b_bits: int, coeffs: Coefficients) -> int:
    """DSP48E2 slices for an a x b product (27x18 ports, best orientation; UG579)."""
    pa, pb = coeffs.dsp_a_bits, coeffs.dsp_b_bits
    return min(math.ceil(a_bits / pa) * math.ceil(b_bits / pb),
               math.ceil(a_bits / pb) * math.ceil(b_bits / pa))


# --- per-op rules -----------------------------------------------------------


def node_cost(graph: Graph, node: Node, target: Target, c: Coefficients) -> tuple[Cost, str]:
    """Cost of one node and an optional note (approximations the caller should know)."""
    rule = _RULES.get(node.op)
    if rule is None:
        return Cost(), f"no cost rule for op {node.op!r}; counted as zero"
    return rule(graph, node, target, c)


def dense_terms(weight: np.ndarray, bias: np.ndarray, x_bits: int, c: Coefficients):
    """Per output neuron: (adder-tree operand count, DSP count, max operand bits)."""
    n_in, n_out = weight.shape
    terms = np.zeros(n_out, dtype=np.int64)
    dsps = np.zeros(n_out, dtype=np.int64)
    wbits = np.zeros(n_out, dtype=np.int64)
    for j in range(n_out):
        for i in range(n_in):
            w = int(weight[i, j])
            kind = mult_kind(w, x_bits, c)
            if kind == "zero":
                continue
            nb = odd_bits(w)
            wbits[j] = max(wbits[j], nb + 1)
            if kind == "dsp":
                dsps[j] += dsp_count(x_bits, nb + 1, c)
                terms[j] += 1
            else:                      # every CSD digit is one shifted copy of x
                terms[j] += len(csd(w))
        terms[j] += int(bias[j] != 0)
    return terms, dsps, wbits


def cast_bits(src: FixedType, dst: FixedType) -> int:
    """Output bits that need logic in a cast: a rounding increment and/or a saturation mux."""
    logic = 0
    if dst.rounding != "TRN" and src.frac > dst.frac:
        logic += dst.width
    may_overflow = (src.integer > dst.integer or (src.signed and not dst.signed)
                    or (dst.overflow == "SAT_SYM" and src.signed and dst.signed))
    if dst.overflow != "WRAP" and may_overflow:
        logic += dst.width
    return logic


def _levels_to_cycles(levels: float, width: int, target: Target, c: Coefficients) -> int:
    """Cycles a combinational depth needs: delay / usable period, at least 1 register."""
    delay = levels * (c.ns_per_level + c.ns_per_carry_bit * width)
    return max(1, math.ceil(delay / (target.clock_period_ns * c.clock_margin)))


def _dense(graph: Graph, node: Node, target: Target, c: Coefficients) -> tuple[Cost, str]:
    tx = graph.tensor(node.inputs[0]).type
    tout = graph.tensor(node.outputs[0]).type
    ta: FixedType = node.attrs["accum_type"]
    w = np.asarray(node.attrs["weight"], dtype=np.int64)
    b = np.asarray(node.attrs["bias"], dtype=np.int64)
    terms, dsps, wbits = dense_terms(w, b, tx.width, c)
    width = tx.width + wbits + np.ceil(np.log2(np.maximum(terms, 1))).astype(np.int64)
    adders = np.maximum(terms - 1, 0)
    add_bits = float((adders * width).sum()) * c.add_width_frac
    note = ""
    sequential = not (ta.overflow == "WRAP" and ta.frac >= tx.frac + node.attrs["weight_type"].frac)
    extra_cast = 0
    if sequential:   # a cast after every addition (hls4ml order); each adder gets a cast
        extra_cast = int(adders.sum()) * cast_bits(ta.with_modes("TRN", "WRAP"), ta)
        note = "narrow/saturating accumulator: per-addition casts estimated"
    out_cast = cast_bits(ta, tout)
    n_out = w.shape[1]
    lut = c.lut_per_add_bit * add_bits + c.lut_per_cast_bit * (out_cast * n_out + extra_cast)
    depth = math.ceil(math.log2(max(int(terms.max(initial=1)), 1))) + (2 if dsps.any() else 0)
    depth += int(out_cast > 0)
    cycles = _levels_to_cycles(max(depth, 1), int(width.max(initial=1)), target, c)
    reuse = int(node.impl.get("reuse_factor", 1))
    ff = c.ff_per_reg_bit * (n_out * tout.width + (cycles - 1) * float(width.sum()))
    dsp = int(dsps.sum())
    if reuse > 1:  # time-multiplexed: hls4ml divides multipliers by R; muxes not modelled
        dsp, lut = math.ceil(dsp / reuse), lut / reuse
        note = (note + "; " if note else "") + f"reuse_factor={reuse}: LUT/DSP divided by R"
    return Cost(lut, ff, dsp, 0.0, cycles + reuse - 1, reuse), note


def _elementwise(graph: Graph, node: Node, target: Target, c: Coefficients) -> tuple[Cost, str]:
    tx = graph.tensor(node.inputs[0]).type
    out = graph.tensor(node.outputs[0])
    bits = cast_bits(tx, out.type)
    if node.op == "relu":  # sign-gating of each bit; LUT6_2 packs two gated bits per LUT
        bits += out.type.width / 2
    return Cost(c.lut_per_cast_bit * bits * out.size, 0.0, 0, 0.0, 0, 1), ""


_RULES = {"dense": _dense, "relu": _elementwise, "quant": _elementwise}


# --- EBOPs --------------------------------------------------------------------


def ebops(graph: Graph) -> float:
    """Effective bit operations: Σ bits(a)·bits(w) over non-zero constant multiplies.

    HGQ's resource proxy (Sun et al., "Gradient-based automatic mixed precision
    quantization for neural networks on-chip", arXiv:2405.00645): it tracks LUT cost of
    fully unrolled designs well. bits(a) is the width of the input element's exact
    interval (:func:`hwai.passes.precision.intervals`); bits(w) is the odd-part width
    of the weight (trailing zeros are wiring, not multiplier work).
    """
    from hwai.passes.precision import intervals

    iv = intervals(graph)
    total = 0.0
    for node in graph.nodes_of("dense"):
        lo, hi, _ = iv[node.inputs[0]]
        abits = np.array([_range_bits(int(a), int(b)) for a, b in zip(lo, hi)], dtype=np.float64)
        w = np.asarray(node.attrs["weight"], dtype=np.int64)
        wbits = np.vectorize(odd_bits, otypes=[np.int64])(w).astype(np.float64)
        total += float((abits[:, None] * wbits).sum())
    return total


def _range_bits(lo: int, hi: int) -> int:
    """Bits holding the integers lo..hi (sign bit only if lo < 0)."""
    if lo < 0:
        return max((-lo - 1).bit_length(), hi.bit_length()) + 1
    return max(hi.bit_length(), 0)
