"""Proof that the fast C-simulation build computes with the tables that are handed off.

The native layer headers hold every weight/bias/LUT table twice: as the literal
``ap_fixed`` initialisers Vitis/Vivado and the testbench compile, and (under
``#ifdef HWAI_CSIM_CODES``) as integer codes, which hwai's ctypes C simulation compiles
because thousands of double->ap_fixed literals make g++ much slower (measured on a
16-64-32-32-5 MLP on a shared 2-core machine: 11.3 s literal vs 7.0 s codes). Everything
else in the headers (index tables, loops, types) is compiled from the same text.

So that what is simulated is what is handed off, every C simulation first checks, on
the files on disk, that the two forms are equal element by element: same names, same
declared types and shapes, and each literal a plain decimal whose double value is
exactly ``code * 2**-F`` with the code inside the type's range. Then the literal's
conversion to ``ap_fixed`` is exact whatever its rounding/overflow mode, and both forms
hold the same bits. The check fails closed: a literal it cannot read (an expression, a
hex float, an edited type) counts as a difference.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

_BLOCK = re.compile(r"#ifndef HWAI_CSIM_CODES\n(.*?)#else\n(.*?)#endif", re.S)
_LITERALS = re.compile(r"static const ([\w<>, ]+?) (\w+)((?:\[\d+\])+) = \{(.*?)\};", re.S)
_CODES = re.compile(r"static const long long (\w+)_codes((?:\[\d+\])+) = \{(.*?)\};", re.S)
_DECL = re.compile(r"static ([\w<>, ]+?) (\w+)((?:\[\d+\])+);")
_TYPEDEF = re.compile(r"typedef\s+(ap_u?(?:fixed|int)<[^>]*>)\s+(\w+)\s*;")
_AP = re.compile(r"ap_(u?)(fixed|int)<\s*(\d+)\s*(?:,\s*(-?\d+))?")
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_INT = re.compile(r"(-?\d+)(?:LL)?")


def table_differences(project: Path, limit: int = 20) -> list[str]:
    """Up to ``limit`` differences between the literal and the code tables of a native project."""
    headers = sorted((project / "firmware").rglob("*.h"))
    typedefs = {m.group(2): m.group(1) for h in headers for m in _TYPEDEF.finditer(h.read_text())}
    out: list[str] = []
    for h in headers:
        text = h.read_text()
        for block in _BLOCK.finditer(text):
            out += _block_differences(h.relative_to(project).as_posix(), block.group(1), block.group(2), typedefs)
        if len(out) >= limit:
            break
    return out[:limit]


def _block_differences(where: str, literal: str, codes: str, typedefs: dict[str, str]) -> list[str]:
    lits = {m.group(2): m for m in _LITERALS.finditer(literal)}
    decls = {m.group(2): m for m in _DECL.finditer(codes)}
    code_tables = {m.group(1): m for m in _CODES.finditer(codes)}
    if set(lits) != set(decls) or set(lits) != set(code_tables):
        return [f"{where}: tables {sorted(lits)} (handed off) vs {sorted(decls)} (simulated)"]
    out: list[str] = []
    for name in sorted(lits):
        lit, decl, code = lits[name], decls[name], code_tables[name]
        if (lit.group(1), lit.group(3)) != (decl.group(1), decl.group(3)) or lit.group(3) != code.group(2):
            out.append(f"{where}: {name}: declared {lit.group(1)}{lit.group(3)} (handed off) vs "
                       f"{decl.group(1)}{decl.group(3)} (simulated)")
            continue
        out += _element_differences(where, name, typedefs.get(lit.group(1), lit.group(1)),
                                    _tokens(lit.group(4)), _tokens(code.group(3)))
    return out


def _tokens(body: str) -> list[str]:
    return [t.strip() for t in re.split(r"[,{}]", body) if t.strip()]


def _element_differences(where: str, name: str, ctype: str, lits: list[str], codes: list[str]) -> list[str]:
    fmt = _format(ctype)
    if fmt is None:
        return [f"{where}: {name}: type {ctype} is not an ap_fixed/ap_int type"]
    if len(lits) != len(codes):
        return [f"{where}: {name}: {len(lits)} literals vs {len(codes)} codes"]
    width, frac, signed = fmt
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    out = []
    for k, (lit, code) in enumerate(zip(lits, codes)):
        m = _INT.fullmatch(code)
        q = int(m.group(1)) if m else None
        exact = (q is not None and lo <= q <= hi and _DECIMAL.fullmatch(lit) is not None
                 and float(lit) == math.ldexp(float(q), -frac))
        if not exact:
            out.append(f"{where}: {name}[{k}] is {lit} in the handed-off table but code {code} "
                       f"(= {math.ldexp(float(q), -frac) if q is not None else '?'}) in C simulation")
    return out


def _format(ctype: str) -> tuple[int, int, bool] | None:
    """(width, fraction bits, signed) of an ``ap_[u]fixed<W,I,...>`` or ``ap_[u]int<W>`` type."""
    m = _AP.match(ctype.strip())
    if m is None:
        return None
    width = int(m.group(3))
    integer = int(m.group(4)) if m.group(2) == "fixed" and m.group(4) is not None else width
    return width, width - integer, m.group(1) != "u"
