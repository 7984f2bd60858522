"""Verilog emission: render ``hwai/templates/verilog`` with the context of :mod:`verilog_context`.

``generate_verilog`` returns an in-memory :class:`~hwai.codegen.fileset.FileSet`
(``<module>.v`` + the static ``hwai_cast.v``); ``testbench_files`` adds the file-driven
testbench used by :mod:`hwai.sim.rtl`. Nothing here touches the disk.
"""

from __future__ import annotations

from typing import Any

from hwai.codegen.fileset import FileSet
from hwai.codegen.templates import render, static_file
from hwai.codegen.verilog_context import io_ports, verilog_context
from hwai.estimate.cost import Coefficients
from hwai.ir.graph import Graph
from hwai.target import Target

CAST_LIB = "hwai_cast.v"
# the flat-bus wrapper hwai's testbenches drive for a graph with several inputs or outputs
SIM_TOP = "hwai_flat_io"


def generate_verilog(graph: Graph, target: Target | None = None,
                     stages: int | dict[str, int] = 1, style: str = "csd",
                     coeffs: Coefficients | None = None, module: str | None = None) -> FileSet:
    """Fully unrolled Verilog for ``graph``.

    ``stages``: register stages per dense layer (an int for all, or {node name: n});
    the output register of each dense layer is the last stage, extra stages cut its
    adder tree at evenly spaced levels. ``style``: 'csd' (shift-add constant multiplies,
    DSP ``*`` only where :func:`hwai.estimate.rules.mult_kind` says so) or 'mul' (plain
    ``*`` by a constant everywhere, left to the synthesis tool). ``target`` is accepted
    for symmetry with the HLS emitters; the RTL itself is clock-independent.
    """
    ctx = verilog_context(graph, stages=stages, style=style, coeffs=coeffs,
                          module=module or (target.project_name if target else None))
    return FileSet({f"{ctx['module']}.v": render("verilog/module.v.j2", **ctx),
                    CAST_LIB: static_file(f"verilog/{CAST_LIB}")})


def top_module(files: FileSet) -> str:
    """Name of the generated top module (the one .v file that is not the cast library)."""
    tops = [p[:-2] for p in files if p.endswith(".v") and p != CAST_LIB and not p.startswith("tb")]
    if len(tops) != 1:
        raise ValueError(f"expected one generated module in {sorted(files)}")
    return tops[0]


def testbench_files(ctx: dict[str, Any], n_vectors: int) -> dict[str, str]:
    """The file-driven Icarus testbench (hex in/out; core + clock top) and the Verilator
    driver (binary streams, independent of ``n_vectors`` so its build is reusable)."""
    tb = {**ctx, "n_vectors": n_vectors}
    return {"tb_core.v": render("verilog/tb_core.v.j2", **tb),
            "tb_top.v": render("verilog/tb_top.v.j2", **tb),
            "sim_main.cpp": verilator_driver(ctx)}


def verilator_driver(ctx: dict[str, Any]) -> str:
    """C++ main for a Verilator model of ``ctx['module']`` (keys module, in_width, out_width):
    streams 32-bit-word-packed vectors from a binary file, one per clock."""
    words = {"in_words": -(-ctx["in_width"] // 32), "out_words": -(-ctx["out_width"] // 32)}
    return render("verilog/sim_main.cpp.j2", **ctx, **words, drain_cycles=100_000)


def sim_top(graph: Graph, module: str) -> tuple[str, dict[str, str]]:
    """The module hwai's testbenches drive and the extra source it needs: the design itself
    for one input and one output; else a wrapper putting every input bus on one flat
    ``in_data`` and every output bus on ``out_data`` (graph order), the layout of the
    test-vector rows (:func:`hwai.codegen.native.flat_inputs`)."""
    ins, outs = io_ports(graph)
    if len(ins) == 1 and len(outs) == 1:
        return module, {}
    text = render("verilog/flat_io.v.j2", module=module, wrapper=SIM_TOP, in_ports=ins, out_ports=outs,
                  in_width=sum(p["width"] for p in ins), out_width=sum(p["width"] for p in outs))
    return SIM_TOP, {f"tb_{SIM_TOP}.v": text}
