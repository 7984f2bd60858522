"""Bridge to hls4ml's own symbolic-expression flow (``convert_from_symbolic_expression``).

Code generation only; :func:`hwai.sim.hls4ml_symbolic.agreement` measures the result.

hls4ml's SymbolicExpression backend prints each expression as one C++ statement in a
single ``precision`` type and evaluates transcendental functions with
``nnet::lookup_table<T, N, hls::func>`` objects (table filled at start-up by sampling
``hls::func`` at bin *starts*; index = ``(x - start) * N/range`` through an
``ap_fixed<20,16>`` factor). Those are different semantics from hwai's ``expr`` op
(per-value exact widths, mid-bin samples, top-bit index), so exact agreement with the
golden model is not promised here: :func:`hwai.sim.hls4ml_symbolic.agreement` measures it.

No Vivado/Vitis install exists here, hence no ``hls_math.h``: the project is built
against a small C-simulation stand-in (``hls::exp`` etc. through ``std::`` double math,
rounded into T). Synthesis uses Xilinx's real ``hls_math``, whose values may differ by
an LSB; say so when reporting.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Sequence

from hwai.codegen.aptypes import ap_types_dir
from hwai.codegen.hlstypes import hls_type
from hwai.codegen.templates import static_file
from hwai.errors import UnsupportedLayerError
from hwai.ir.types import FixedType
from hwai.target import Target

# Functions hls4ml can evaluate as LUTs (math_func names, as printed after "hls::"/"nnet::").
LUT_FUNCS = ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt")


def lut_expressions(exprs: Sequence[Any]) -> tuple[list[Any], set[str]]:
    """Replace exp/log/... by ``<f>_lut`` calls; raise for anything hls4ml cannot print."""
    import sympy

    used: set[str] = set()

    def visit(e: Any) -> Any:
        if e.is_Atom:
            return e
        args = [visit(a) for a in e.args]
        if e.is_Pow and e.exp == sympy.Rational(1, 2):
            used.add("sqrt")
            return sympy.Function("sqrt_lut")(args[0])
        if e.is_Pow and not (e.exp.is_Integer and int(e.exp) >= 0):
            raise UnsupportedLayerError(f"hls4ml symbolic path: {e} (a division or non-integer power) "
                                        "has no LUT form there; use the native backend")
        name = type(e).__name__.lower()
        if isinstance(e, sympy.Function):
            if name not in LUT_FUNCS or len(args) != 1:
                raise UnsupportedLayerError(f"hls4ml symbolic path: function {type(e).__name__} is not "
                                            f"one of {', '.join(LUT_FUNCS)}; use the native backend")
            used.add(name)
            return sympy.Function(f"{name}_lut")(args[0])
        return e.func(*args)

    return [visit(sympy.sympify(e)) for e in exprs], used


def to_hls4ml_symbolic(exprs: Sequence[Any], input_type: FixedType, out_dir: str | Path,
                       target: Target | None = None, lut: dict | None = None,
                       precision: FixedType | None = None, n_inputs: int | None = None) -> Any:
    """Write and compile hls4ml's SymbolicExpression project; returns the hls4ml model.

    ``precision`` (default ap_fixed<18,8>) is hls4ml's single type for inputs, tables and
    results; ``lut`` = ``{size, range: [start, end]}`` for every function table.
    """
    from hls4ml.converters import convert_from_symbolic_expression

    target = target or Target()
    precision = precision or FixedType(18, 8)
    lut = {"size": 1024, "range": [-8, 8], **(lut or {})}
    exprs_lut, used = lut_expressions(exprs)
    luts = {f"{f}_lut": {"math_func": f, "table_size": int(lut["size"]),
                          "range_start": float(lut["range"][0]), "range_end": float(lut["range"][1])}
            for f in sorted(used)}
    out_dir = Path(out_dir)
    include = _shim_dir(out_dir.parent / f"{out_dir.name}_hls_include")
    model = convert_from_symbolic_expression(
        [str(e) for e in exprs_lut], n_symbols=n_inputs, lut_functions=luts or None,
        output_dir=str(out_dir), project_name=target.project_name, precision=hls_type(precision),
        part=target.part, clock_period=target.clock_period_ns,
        hls_include_path=str(include), hls_libs_path="")
    model.compile()
    return model


def _shim_dir(folder: Path) -> Path:
    """ap_types headers + the hls_math.h stand-in, copied by hls4ml into firmware/ap_types."""
    src = ap_types_dir()
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(src, folder)
    (folder / "hls_math.h").write_bytes(static_file("hls4ml/hls_math.h"))  # C-sim stand-in header
    return folder
