"""``hwai verify``: stream many events through every simulation backend, bit-exact.

Events come in chunks from :func:`hwai.sim.vectors.make_vectors` (corner and extreme
vectors, the run's own test rows and jittered copies of them, then uniform codes;
one seed per chunk, so any N is reproducible without holding N events). Each chunk
runs through the golden model (the reference), then through the backends:

* ``golden``  - the golden model's int64 reference semantics (``interp.run_reference``)
  against its fast float path: guards the fast path itself;
* ``fast``    - the integer C-simulation flavour (:mod:`hwai.sim.fast_csim`);
* ``apfixed`` - the ap_fixed native project (the one for the HLS tools), C-simulated;
* ``rtl``     - the Verilog under Verilator (one build, all events at the end).

A mismatch is reported per backend with its first event and, where the backend can
give a per-layer trace (golden, fast), the first diverging layer via
:func:`hwai.sim.compare.compare`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hwai.codegen.native import golden_outputs, split_inputs
from hwai.errors import HwaiError
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.sim.compare import compare
from hwai.sim.vectors import make_vectors
from hwai.target import Target

BACKENDS = ("golden", "fast", "apfixed", "rtl")
DEFAULT_CHUNK = 100_000

Runner = Callable[[np.ndarray], np.ndarray]
Tracer = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass
class Tally:
    """One backend's result over all chunks."""

    events: int = 0
    mismatches: int = 0                 # events with at least one differing output code
    first_index: int | None = None
    first_layer: str | None = None
    max_abs_diff_lsb: int = 0
    seconds: float = 0.0
    summary: str = ""

    def line(self, name: str) -> str:
        rate = f"{self.events / self.seconds:,.0f} events/s" if self.seconds > 0 else "n/a"
        if not self.mismatches:
            return f"{name}: 0/{self.events} events differ (bit-exact), {rate}"
        return (f"{name}: {self.mismatches}/{self.events} events differ, {self.summary}, "
                f"max |diff| {self.max_abs_diff_lsb} LSB")


def parse_backends(text: str) -> list[str]:
    """``golden,fast`` -> ["golden", "fast"]; unknown names are a one-line error."""
    names = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in names if b not in BACKENDS]
    if bad or not names:
        raise ValueError(f"unknown backend(s) {', '.join(bad) or '(none)'}; choose from {','.join(BACKENDS)}")
    return list(dict.fromkeys(names))


def event_chunk(graph: Graph, index: int, n: int, seed: int, real_codes: np.ndarray | None) -> np.ndarray:
    """Chunk ``index`` of the event stream: corners first, then real/jittered/uniform rows."""
    return make_vectors(graph, n, seed + 7919 * index, real_codes)


def verify_graph(graph: Graph, events: int, backends: list[str], target: Target | None = None,
                 chunk: int = DEFAULT_CHUNK, seed: int = 0, real_codes: np.ndarray | None = None,
                 run_dir: Path | None = None, progress: bool = True) -> dict:
    """Stream ``events`` through ``backends``; the per-backend tallies as a JSON-able dict."""
    if events < 1 or chunk < 1:
        raise HwaiError(f"verify: --events and --chunk must be >= 1 (got {events}, {chunk})")
    target = target or Target()
    runners = {b: _runner(b, graph, target, run_dir) for b in backends if b != "rtl"}
    tallies = {b: Tally() for b in backends}
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    from tqdm import tqdm

    with tqdm(total=events, unit="ev", unit_scale=True, disable=not progress, file=sys.stderr,
              desc="verify") as bar:
        for k, start in enumerate(range(0, events, chunk)):
            x = event_chunk(graph, k, min(chunk, events - start), seed, real_codes)
            gold = golden_outputs(graph, x)
            for name, fn in runners.items():
                _check(graph, tallies[name], x, gold, fn, start, _TRACERS.get(name))
            if "rtl" in tallies:
                kept.append((x, gold))
            bar.update(len(x))
    if kept:
        if progress:
            print(f"verify: rtl on {events} events (one Verilator build and run) ...", file=sys.stderr)
        _check_rtl(graph, tallies["rtl"], kept, target, run_dir)
    return {"graph": graph.name, "events": events, "chunk": chunk, "seed": seed,
            "backends": {b: asdict(t) for b, t in tallies.items()},
            "lines": [t.line(b) for b, t in tallies.items()]}


def _check(graph: Graph, tally: Tally, x: np.ndarray, gold: np.ndarray, fn: Runner,
           offset: int, tracer: Tracer | None) -> None:
    t0 = time.perf_counter()
    got = fn(x)
    tally.seconds += time.perf_counter() - t0
    tally.events += len(x)
    bad = np.any(got != gold, axis=1)
    n_bad = int(bad.sum())
    if not n_bad:
        return
    tally.mismatches += n_bad
    tally.max_abs_diff_lsb = max(tally.max_abs_diff_lsb, int(np.abs(got[bad] - gold[bad]).max()))
    if tally.first_index is None:
        i = int(np.argmax(bad))
        row = x[i:i + 1]
        rep = compare(graph, row, got[i:i + 1], trace=tracer(graph, row) if tracer else None)
        tally.first_index, tally.first_layer = offset + i, rep.first_layer
        where = f", first diverging layer {rep.first_layer}" if rep.first_layer else ""
        tally.summary = (f"first event #{offset + i}{where}: got {got[i].tolist()} "
                         f"vs golden {gold[i].tolist()}")


def _check_rtl(graph: Graph, tally: Tally, kept: list, target: Target, run_dir: Path | None) -> None:
    """Verilator builds once, so the RTL sees all events in one run (not chunked)."""
    from hwai.codegen.verilog import generate_verilog
    from hwai.sim.rtl import rtl_sim

    folder = run_dir / "verilog" if run_dir is not None else None
    files = folder if folder is not None and folder.is_dir() else generate_verilog(graph, target)
    x = np.concatenate([k[0] for k in kept])
    gold = np.concatenate([k[1] for k in kept])
    _check(graph, tally, x, gold, lambda v: rtl_sim(graph, files, v), 0, None)


# --- backends ---------------------------------------------------------------------

def _runner(name: str, graph: Graph, target: Target, run_dir: Path | None) -> Runner:
    if name == "golden":
        return lambda x: _concat(graph, interp.run_reference(graph, split_inputs(graph, x)), len(x))
    if name == "fast":
        from hwai.sim.fast_csim import load_fast
        model = load_fast(graph, target)
        return model.predict
    return _apfixed(graph, target, run_dir).predict


def _apfixed(graph: Graph, target: Target, run_dir: Path | None):
    """The run's emitted native project when present (what was handed off), else generated."""
    from hwai.codegen.native import generate
    from hwai.sim.native_csim import load_native

    project = run_dir / "native" if run_dir is not None else None
    if project is not None and project.is_dir():
        return load_native(project)
    return load_native(generate(graph, target, vectors=np.zeros((1, _n_in(graph)), dtype=np.int64)))


def _n_in(graph: Graph) -> int:
    return sum(graph.tensor(n).size for n in graph.inputs)


def _concat(graph: Graph, env: dict, n: int) -> np.ndarray:
    return np.concatenate([np.asarray(env[o]).reshape(n, -1) for o in graph.outputs], axis=1)


def _golden_trace(graph: Graph, row: np.ndarray) -> dict[str, np.ndarray]:
    return interp.run_reference(graph, split_inputs(graph, row), trace=True)


def _fast_trace(graph: Graph, row: np.ndarray) -> dict[str, np.ndarray]:
    from hwai.sim.fast_csim import trace_fast
    return trace_fast(graph, row)


_TRACERS: dict[str, Callable[[Graph, np.ndarray], dict[str, np.ndarray]]] = {
    "golden": _golden_trace, "fast": _fast_trace,
}


def default_backends(graph: Graph, target: Target) -> list[str]:
    """Every backend that applies: rtl only when Verilator is installed, fast only when the
    design fits the int64 flavour (ask for either explicitly to require it)."""
    import shutil

    from hwai.codegen.native_int import generate_int
    from hwai.codegen.verilog import generate_verilog
    from hwai.errors import UnsupportedLayerError

    out = [b for b in BACKENDS if b != "rtl" or shutil.which("verilator")]
    for backend, generate in (("fast", generate_int), ("rtl", generate_verilog)):
        if backend not in out:
            continue
        try:
            generate(graph, target)
        except UnsupportedLayerError as err:
            print(f"verify: skipping {backend} ({err})", file=sys.stderr)
            out.remove(backend)
    return out
