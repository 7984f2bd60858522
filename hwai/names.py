"""Identifiers, once: IR names (layer names from Keras, torch module paths, user strings)
become C/C++, Verilog/SystemVerilog and hls4ml identifiers here and nowhere else.

One rule for every language, so the same node has the same spelling in every backend:
characters outside ``[A-Za-z0-9_]`` become ``_``; a name starting with a digit (an unnamed
``nn.Sequential`` gives ``0``, ``1``, ...) or empty gets the prefix ``n_``; a name equal to
a keyword of the language gets the suffix ``_``. Distinct names that clean to the same
identifier get ``_1``, ``_2``, ... in the order given, so the result is deterministic.

Compound names (``f"{prefix}_acc"``) start with :func:`prefix` (no keyword guard: the
prefix starts with a letter or ``_`` and the suffix makes it no keyword).
This module imports nothing from hwai (any layer may use it).
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["C_KEYWORDS", "HLS4ML_RESERVED", "LANGUAGES", "VERILOG_KEYWORDS", "fresh",
           "hls4ml_renames", "identifier", "prefix", "unique_identifiers"]

DIGIT_PREFIX = "n_"

# C++20 keywords and alternative tokens, plus C's (ISO/IEC 14882:2020 [lex.key], C17 6.4.1).
C_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires restrict
return short signed sizeof static static_assert static_cast struct switch template this
thread_local throw true try typedef typeid typename union unsigned using virtual void volatile
wchar_t while xor xor_eq _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary
_Noreturn _Static_assert _Thread_local
""".split())

# Verilog-2005 (IEEE 1364-2005 Annex B) and SystemVerilog-2017 (IEEE 1800-2017 Annex B)
# reserved words: Verilator and most synthesis tools parse .v files with both sets.
VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable
endtask enum event eventually expect export extends extern final first_match for force
foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
ignore_bins illegal_bins implements implies import incdir include initial inout input inside
instance int integer interconnect interface intersect join join_any join_none large let
liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output
package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos
rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared
sequence shortint shortreal showcancelled signed small soft solve specify specparam static
string strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on
table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0
tri1 triand trior trireg type typedef union unique unique0 unsigned until until_with untyped
use uwire var vectored virtual void wait wait_order wand weak weak0 weak1 while wildcard wire
with within wor xnor xor
""".split())

# hls4ml 1.3's ModelGraph refuses a layer named 'input'; its generated C++ needs C names too.
HLS4ML_RESERVED = frozenset({"input"})

LANGUAGES = {"c": C_KEYWORDS, "verilog": VERILOG_KEYWORDS}


def identifier(name: str, lang: str = "c") -> str:
    """A valid identifier of ``lang`` (``c`` for C/C++ and HLS, ``verilog``) for ``name``."""
    s = prefix(name)
    return s + "_" if s in LANGUAGES[lang] else s


def prefix(name: str) -> str:
    """The start of compound identifiers (``f"{prefix}_acc"``): cleaned, never starting with
    a digit; no keyword guard, since the ``_suffix`` already makes it no keyword."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return DIGIT_PREFIX + s if not s or s[0].isdigit() else s


def unique_identifiers(names: Iterable[str], lang: str | None = "c",
                       taken: Iterable[str] = ()) -> dict[str, str]:
    """Name -> identifier, distinct from each other and from ``taken``; first come keeps
    the plain spelling, later ones get ``_1``, ``_2``, ... (deterministic in input order).
    ``lang=None``: distinct :func:`prefix` es instead."""
    out: dict[str, str] = {}
    used = set(taken)
    for name in names:
        if name not in out:
            out[name] = fresh(name, used, lang)
            used.add(out[name])
    return out


def fresh(name: str, taken: Iterable[str], lang: str | None = "c") -> str:
    """:func:`identifier` (``lang=None``: :func:`prefix`) of ``name``, with ``_1``, ``_2``,
    ... appended until not in ``taken``."""
    used = set(taken)
    base = cand = identifier(name, lang) if lang else prefix(name)
    k = 1
    while cand in used:
        cand, k = f"{base}_{k}", k + 1
    return cand


def hls4ml_renames(tensor_names: Iterable[str]) -> dict[str, str]:
    """Tensor renames hls4ml needs: a reserved name ``t`` becomes ``t_0`` (others stay)."""
    return {t: f"{t}_0" for t in tensor_names if t in HLS4ML_RESERVED}
