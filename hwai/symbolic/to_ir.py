"""sympy expressions -> an IR graph with one ``expr`` node (see :mod:`hwai.ir.expr`).

Every intermediate gets the *exact* fixed-point type of its value interval (widths
follow from ranges, da4ml-style), unless that is wider than the ``precision`` cap,
in which case it is rounded/saturated into ``precision.width`` bits. Constants are
quantized to ``const.width`` significant bits. Every transcendental function
(anything unary sympy can evaluate: exp, log, sin, cos, tanh, sqrt, 1/x, ...) becomes
a lookup table whose index is the top bits of the argument offset; its contents are
computed here once and stored as integer codes.

Config (the recipe's ``symbolic:`` keys; all optional)::

    precision: {width: 18, integer: 8, rounding: TRN, overflow: SAT}
    const:     {width: 18}
    lut:       {size: 1024, range: [-8, 8], width: 18, integer: null}
    output:    {width: 18, integer: 8}
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

from hwai.errors import UnsupportedLayerError
from hwai.ir.expr import exact_interval, exact_type, portable, validate_node
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.numeric import cast_interval_scalar, fixed_from_dict, type_for_range
from hwai.ir.types import FixedType

DEFAULT_PRECISION = {"width": 18, "integer": 8, "rounding": "TRN", "overflow": "SAT"}
DEFAULT_LUT_SIZE = 1024
_SYMBOL = re.compile(r"^x(\d+)$")


def precision_cap(cfg: dict | None) -> FixedType:
    """The cap for intermediates from ``precision:`` (defaults: 18 bits, 8 integer, TRN, SAT).

    18 bits because a DSP48E2 multiplier port is 27 x 18 (UG579): one DSP per product.
    """
    return fixed_from_dict({**DEFAULT_PRECISION, **{k: v for k, v in (cfg or {}).items() if v is not None}, "signed": True})


def expressions_to_graph(exprs: Sequence[Any], input_type: FixedType, n_inputs: int,
                         cfg: dict | None = None, calib_x: np.ndarray | None = None,
                         name: str = "symbolic") -> Graph:
    """Build ``x (n_inputs,) -> expr node -> y (len(exprs),)``; symbols must be ``x0, x1, ...``.

    ``calib_x`` (float, standardized like the training data) sets LUT ranges from the
    values the argument actually takes when ``lut.range`` is not given.
    """
    import sympy

    cfg = dict(cfg or {})
    b = _Builder(input_type, n_inputs, cfg, calib_x)
    outs = [b.value(sympy.sympify(e)) for e in exprs]
    tout = _output_type(cfg, [b.ivs[k] for k in outs], b.cap)
    node = Node("sr", "expr", ("x",), ("y",),
                {"program": b.program, "tables": b.tables, "outputs": outs,
                 "expressions": [str(e) for e in exprs]})
    g = Graph(name, ("x",), ("y",),
              {"x": Tensor("x", (n_inputs,), input_type), "y": Tensor("y", (len(outs),), tout)},
              (node,), {"source": "symbolic"})
    validate_node(g, node)
    return g.validate()


def _output_type(cfg: dict, ivs: list, cap: FixedType) -> FixedType:
    if "output" in cfg:
        return fixed_from_dict({**cfg["output"], "signed": True})
    f = max(i[2] for i in ivs)
    lo, hi = (min(i[0] << (f - i[2]) for i in ivs), max(i[1] << (f - i[2]) for i in ivs))
    return exact_type((lo, hi, f), cap)


class _Builder:
    """Walks sympy trees into the instruction list, sharing common subexpressions."""

    def __init__(self, tin: FixedType, n_in: int, cfg: dict, calib_x: np.ndarray | None):
        self.tin, self.n_in, self.cfg, self.calib = tin, n_in, cfg, calib_x
        self.cap = precision_cap(cfg.get("precision"))
        self.program: list[dict] = []
        self.ivs: list[tuple[int, int, int]] = []
        self.types: list[FixedType] = []
        self.tables: list[np.ndarray] = []
        self.memo: dict[Any, int] = {}
        self.sym: list[Any] = []  # sympy expression of every instruction (LUT calibration)

    # --- emission ---------------------------------------------------------
    def _emit(self, ins: dict, t: FixedType | None, expr: Any) -> int:
        """Append ``ins`` with type ``t`` (exact/capped type of its interval when None)."""
        args = [self.ivs[a] for a in ins.get("args", [])]
        ex = exact_interval({**ins, "type": t} if t else ins, args, self.tables)
        t = t or exact_type(ex, self.cap)
        if ins["op"] != "input":
            ins["type"] = t
        self.program.append(ins)
        self.types.append(t)
        self.ivs.append(cast_interval_scalar(ex, t))
        self.sym.append(expr)
        return len(self.program) - 1

    def value(self, e: Any) -> int:
        if e not in self.memo:
            self.memo[e] = self._build(e)
        return self.memo[e]

    def _build(self, e: Any) -> int:
        import sympy

        if e.is_Symbol:
            return self._input(e)
        if e.is_Number:
            return self._const(e)
        if e.is_Add:
            return self._add(e)
        if e.is_Mul:
            return self._mul(e)
        if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 1:
            base = self.value(e.base)
            acc = base
            for _ in range(int(e.exp) - 1):  # x**n as a chain of n-1 multipliers
                acc = self._emit({"op": "mul", "args": [acc, base]}, None, e)
            return acc
        if (e.is_Pow or isinstance(e, sympy.Function)) and len(e.free_symbols) > 0:
            return self._lut(e)
        raise UnsupportedLayerError(f"symbolic: cannot lower {e!r} ({type(e).__name__}) to the "
                                    "expr op (supported: + - * integer powers, unary functions)")

    def _input(self, e: Any) -> int:
        m = _SYMBOL.match(e.name)
        if not m or int(m.group(1)) >= self.n_in:
            raise UnsupportedLayerError(f"symbolic: variable {e.name!r} is not one of "
                                        f"x0..x{self.n_in - 1}")
        self.program.append({"op": "input", "index": int(m.group(1))})
        self.types.append(self.tin)
        self.ivs.append((self.tin.qmin, self.tin.qmax, self.tin.frac))
        self.sym.append(e)
        return len(self.program) - 1

    def _const(self, e: Any) -> int:
        code, frac = quantize_constant(float(e), int(self.cfg.get("const", {}).get("width", self.cap.width)))
        t = exact_type((code, code, frac))
        return self._emit({"op": "const", "code": code}, t, e)

    def _add(self, e: Any) -> int:
        terms = list(e.as_ordered_terms())
        neg = [t.could_extract_minus_sign() for t in terms]
        order = sorted(range(len(terms)), key=lambda i: neg[i])  # start with a positive term
        acc = None
        for i in order:
            v = self.value(-terms[i] if neg[i] else terms[i])
            if acc is None:
                acc = self._emit({"op": "neg", "args": [v]}, None, terms[i]) if neg[i] else v
            else:
                acc = self._emit({"op": "sub" if neg[i] else "add", "args": [acc, v]}, None, e)
        return acc

    def _mul(self, e: Any) -> int:
        coeff, rest = e.as_coeff_mul()
        if coeff == -1:
            return self._emit({"op": "neg", "args": [self.value(e.func(*rest))]}, None, e)
        factors = ([self.value(coeff)] if coeff != 1 else []) + [self.value(f) for f in rest]
        acc = factors[0]
        for f in factors[1:]:
            acc = self._emit({"op": "mul", "args": [acc, f]}, None, e)
        return acc

    # --- lookup tables ----------------------------------------------------
    def _lut(self, e: Any) -> int:
        import sympy

        arg_expr = e.base if e.is_Pow else e.args[0]
        if len(e.args) != (2 if e.is_Pow else 1) or (e.is_Pow and e.exp.free_symbols):
            raise UnsupportedLayerError(f"symbolic: {e} is not a unary function of one argument")
        a = self.value(arg_expr)
        t = sympy.Symbol("t")
        fn = sympy.lambdify(t, e.subs(arg_expr, t) if not e.is_Pow else t ** e.exp, "numpy")
        spec = lut_spec(self.ivs[a], self.types[a], self._lut_range(a), self._lut_cfg("size", DEFAULT_LUT_SIZE))
        codes, tout = tabulate(fn, spec, self.types[a], self._lut_cfg("width", self.cap.width),
                               self._lut_cfg("integer", None))
        self.tables.append(codes)
        name = type(e).__name__.lower() if not e.is_Pow else f"pow{e.exp}"
        ins = {"op": "lut", "args": [a], "func": name, "table": len(self.tables) - 1,
               "lo": spec["lo"], "shift": spec["shift"]}
        return self._emit(ins, tout, e)

    def _lut_cfg(self, key: str, default: Any) -> Any:
        v = self.cfg.get("lut", {}).get(key)
        return default if v is None else v

    def _lut_range(self, a: int) -> tuple[float, float] | None:
        """Stated range, else the calibration data's range of the argument, else None."""
        rng = self._lut_cfg("range", None)
        if rng is not None:
            return float(rng[0]), float(rng[1])
        if self.calib is None:
            return None
        import sympy

        xs = sympy.symbols(f"x0:{self.n_in}")
        vals = np.asarray(sympy.lambdify([xs], self.sym[a], "numpy")(self.calib.T), dtype=float)
        vals = np.broadcast_to(vals, (self.calib.shape[0],))
        vals = vals[np.isfinite(vals)]
        lsb = self.types[a].lsb  # half-open range: include the largest value seen
        return (float(vals.min()), float(vals.max()) + lsb) if vals.size else None


def quantize_constant(c: float, width: int) -> tuple[int, int]:
    """(code, frac) of ``c`` with ``width`` significant bits; trailing zero bits are
    dropped (down to frac 0) so 0.5 becomes a 1-bit shift, not an 18-bit multiplier."""
    if c == 0 or not math.isfinite(c):
        return 0, 0
    integer = max(1, math.floor(math.log2(abs(c))) + 2)
    frac = width - integer
    code = int(round(c * 2.0 ** frac))
    while frac > 0 and code % 2 == 0:
        code //= 2
        frac -= 1
    return code, frac


def lut_spec(arg_iv: tuple[int, int, int], arg_t: FixedType, rng: tuple[float, float] | None,
             size: int) -> dict:
    """Start code, shift and size of a table over the argument range (power-of-two span).

    ``rng`` is half-open, [r0, r1), so [-8, 8) is exactly a power-of-two span.
    The span in argument codes is rounded up to 2**m so the index is ``m - shift`` top
    bits of ``q - lo``; ``size`` is rounded down to a power of two and never exceeds
    the number of distinct argument codes.
    """
    alo, ahi, fa = arg_iv
    if rng is not None:
        lo = max(math.floor(rng[0] * 2.0 ** fa), alo)
        hi = min(math.ceil(rng[1] * 2.0 ** fa) - 1, ahi)  # half-open [r0, r1)
        lo, hi = (lo, hi) if lo <= hi else (alo, ahi)
    else:
        lo, hi = alo, ahi
    m = max(0, (int(hi) - int(lo)).bit_length())
    n = min(1 << max(0, int(size).bit_length() - 1), 1 << m)
    return {"lo": int(lo), "shift": m - (n.bit_length() - 1), "size": n}


def tabulate(fn: Any, spec: dict, arg_t: FixedType, width: int,
             integer: int | None) -> tuple[np.ndarray, FixedType]:
    """Table codes: ``fn`` at the middle argument of each bin, rounded (RND) and saturated.

    Non-finite values (log(0), 1/0) saturate to the type's ends; NaN becomes 0.
    """
    i = np.arange(spec["size"], dtype=np.float64)
    step = float(1 << spec["shift"])
    mid = (spec["lo"] + i * step + (step - 1) / 2) * 2.0 ** -arg_t.frac
    with np.errstate(all="ignore"):
        y = np.asarray(fn(mid), dtype=np.float64) * np.ones_like(mid)
    finite = y[np.isfinite(y)]
    signed = bool(finite.size and finite.min() < 0)
    if integer is None:
        peak = float(np.abs(finite).max()) if finite.size else 1.0
        integer = max(1 if signed else 0, math.floor(math.log2(peak)) + 1 + signed if peak > 0 else 1)
    t = FixedType(int(width), int(integer), signed, "RND", "SAT")
    y = np.where(np.isnan(y), 0.0, np.clip(y, t.min_value, t.max_value))
    codes = t.from_float(y).astype(np.int64)
    narrow = portable(type_for_range(int(codes.min()), int(codes.max()), t.frac, force_signed=signed))
    return codes, narrow.with_modes("RND", "SAT")
