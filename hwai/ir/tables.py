"""Lookup-table activations (sigmoid, tanh; softmax's exp and inverse tables at the end):
the one rule that fills each table, once, at lowering.

A ``table`` node (:mod:`hwai.ops.table`) maps each input code to a stored output code:
``y = table[address(x)]`` with ``address(x)`` the raw bits of x's code (two's complement
read as unsigned), which is how a ROM is addressed in hardware and how hls4ml's
``unary_lut`` indexes its table (``x(x.width - 1, 0)``, nnet_activation.h). The table
has ``2**W`` entries for a W-bit input, so a wide input is first cast to a narrow
*index type* (a ``quant`` node: the declared truncation/saturation of the argument).

Table contents (this module, called at lowering only; every backend prints the stored
codes): entry a = cast(f(value(a)), out), f evaluated in float64 and ``out``'s rounding and
overflow applied by :meth:`FixedType.from_float` (the one cast rule).

Default index types cover the ranges hls4ml's own tables cover (sigmoid [-8, 8), tanh
[-4, 4): ``init_sigmoid_table`` / ``init_tanh_table``), with hls4ml's default
``table_size`` 1024 (10 index bits), rounding to nearest and saturating outside.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hwai.ir.types import FixedType

DEFAULT_TABLE_BITS = 10      # hls4ml's default table_size = 1024 entries
MAX_TABLE_BITS = 16          # 65,536 entries: beyond that a ROM per element is not sensible


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))   # = 1 / (1 + e^-x), no overflow for large |x|


# name -> (f, Lipschitz constant, (lower limit, upper limit), index integer bits)
FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float, tuple[float, float], int]] = {
    "sigmoid": (_sigmoid, 0.25, (0.0, 1.0), 4),   # index covers [-8, 8)
    "tanh": (np.tanh, 1.0, (-1.0, 1.0), 3),        # index covers [-4, 4)
}


def check_function(name: str) -> None:
    if name not in FUNCTIONS:
        raise ValueError(f"table function {name!r} is not one of {', '.join(FUNCTIONS)}")


def index_type(function: str, bits: int = DEFAULT_TABLE_BITS) -> FixedType:
    """The default argument type of ``function``'s table: ``bits`` bits over hls4ml's range,
    rounded to nearest (RND: half an index step of error instead of a whole one) and saturated."""
    check_function(function)
    if not 2 <= bits <= MAX_TABLE_BITS:
        raise ValueError(f"table bits {bits} not in 2..{MAX_TABLE_BITS}")
    return FixedType(bits, FUNCTIONS[function][3], True, "RND", "SAT")


def output_type(function: str, width: int = DEFAULT_TABLE_BITS) -> FixedType:
    """The default table entry type: sigmoid in ap_ufixed<W, 0> (values in [0, 1)), tanh in
    ap_fixed<W, 1> ([-1, 1)); rounded to nearest, saturated (1.0 becomes the largest code)."""
    check_function(function)
    if function == "sigmoid":
        return FixedType(width, 0, False, "RND", "SAT")
    return FixedType(width, 1, True, "RND", "SAT")


def input_codes(t: FixedType) -> np.ndarray:
    """The code stored at each address 0 .. 2**W - 1 of a table indexed by type ``t``."""
    a = np.arange(1 << t.width, dtype=np.int64)
    return a - ((a >> (t.width - 1)) << t.width) if t.signed else a


def addresses(q: np.ndarray, t: FixedType) -> np.ndarray:
    """Table address of codes ``q`` of type ``t``: their raw W bits read as unsigned."""
    return np.asarray(q, dtype=np.int64) & ((1 << t.width) - 1)


def code_ordered(table: np.ndarray, tin: FixedType) -> np.ndarray:
    """A table's entries in input-code order (qmin .. qmax), for interval queries."""
    return table[addresses(np.arange(tin.qmin, tin.qmax + 1), tin)]


def build_table(function: str, tin: FixedType, tout: FixedType) -> np.ndarray:
    """Entry a = cast(f(value of the code at address a), tout): int64 codes of ``tout``."""
    check_function(function)
    if tin.width > MAX_TABLE_BITS:
        raise ValueError(f"a table indexed by {tin.width} bits has more than 2**{MAX_TABLE_BITS} entries")
    f = FUNCTIONS[function][0]
    return np.asarray(tout.from_float(f(tin.to_float(input_codes(tin)))), dtype=np.int64)


def lookup(table: np.ndarray, q: np.ndarray, tin: FixedType) -> np.ndarray:
    """The golden lookup: ``table[address(q)]``."""
    return np.asarray(table, dtype=np.int64)[addresses(q, tin)]


def error_bound(function: str, tidx: FixedType, tout: FixedType) -> float:
    """Largest |table(cast(x, tidx)) - f(x)| over all real x: the index cast moves x by at
    most half an index step inside the range (RND; a whole step for TRN), so f moves by at
    most L times that; beyond the range f differs from its value at the edge by at most its
    tail to the limit; the entry's own cast adds at most one output LSB (half when rounding,
    a whole one where 1.0 saturates to the largest code)."""
    f, lip, (lo, hi), _ = FUNCTIONS[function]
    step = tidx.lsb if tidx.rounding in ("TRN", "TRN_ZERO") else tidx.lsb / 2
    edge = np.array([tidx.min_value, tidx.max_value])
    tail = max(float(f(edge[:1])[0]) - lo, hi - float(f(edge[1:])[0]))
    return lip * step + max(tail, 0.0) + tout.lsb



# --- softmax (hls4ml's ``softmax_stable`` tables, nnet_activation.h) ----------------------
# hls4ml fills its exp and inverse tables at C-simulation start in float32: entry i of the exp
# table is (exp_table_t) std::exp(-(float)d_i) for the i-th code d_i of inp_norm_t, entry i of
# the inverse table (inv_table_t)(1 / (float)s_i). hwai fills the same tables once, at lowering,
# with the C library's expf (the function that std::exp(float) calls) and float32 division, so
# hls4ml's C simulation reads the very codes the golden model stores; numpy's float32 exp differs
# from glibc's expf in the last bit for ~40 % of arguments, which moves table codes.


def _c_expf() -> Callable[[float], float]:
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    fn = libm.expf
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return fn


def softmax_exp_table(norm: FixedType, exp: FixedType) -> np.ndarray:
    """Entry a = cast(expf(-value(a)), exp): codes of ``exp`` by code a of the unsigned ``norm``."""
    expf = _c_expf()
    x = norm.to_float(input_codes(norm)).astype(np.float32)
    return np.asarray(exp.from_float(np.array([expf(-float(v)) for v in x], dtype=np.float32)), dtype=np.int64)


def softmax_inv_table(inv_in: FixedType, inv: FixedType) -> np.ndarray:
    """Entry a = cast(1 / value(a), inv) in float32; entry 0 (1/0) holds the largest code (the
    sum of the exponentials is at least exp(0) = 1, so it is never read)."""
    x = inv_in.to_float(input_codes(inv_in)).astype(np.float32)
    with np.errstate(divide="ignore"):
        y = np.float32(1.0) / x
    return np.where(x == 0, inv.qmax, np.asarray(inv.from_float(np.where(x == 0, 0, y)), dtype=np.int64))


def softmax_types(n: int, bits: int = DEFAULT_TABLE_BITS, width: int | None = None) -> dict[str, FixedType]:
    """Default types of a softmax over ``n`` values: ``norm`` (x_max - x in [0, 16), ``bits``
    bits: exp(-16) < 2**-23 is below any entry's LSB), ``exp`` (entries in (0, 1]), ``inv_in``
    (the sum in [1, n]), ``inv`` (1/sum in [1/n, 1]), all rounded to nearest and saturated;
    ``accum`` holds the sum of n entries exactly (hls4ml's accum_t)."""
    w = int(width or bits)
    exp = FixedType(w, 1, False, "RND", "SAT")
    sum_int = 1 + max(1, (n - 1).bit_length())
    return {"norm": FixedType(bits, 4, False, "RND", "SAT"), "exp": exp,
            "accum": FixedType(exp.width + sum_int - 1, sum_int, False),
            "inv_in": FixedType(bits, sum_int, False, "RND", "SAT"),
            "inv": FixedType(w, 1, False, "RND", "SAT")}
