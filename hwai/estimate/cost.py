"""Resource/latency estimate data types, the fitted coefficients, and ``estimate()``.

The estimate is analytic (one rule per op: each op's ``cost`` hook in :mod:`hwai.ops`,
with the formulas in :mod:`hwai.estimate.rules`) for a fully
unrolled, latency-strategy, ``io_parallel`` design with constant weights — the CMS L1
trigger style of hls4ml and of hwai's own Verilog emitter. The coefficients are fitted
against Yosys ``synth_xilinx`` runs of emitted designs (``calibration/fit.py``); the data
and the resulting error figures live in ``calibration/`` and ``docs/estimator.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from typing import Any

from hwai.ir.graph import Graph
from hwai.ir.registry import op_of
from hwai.target import Target


@dataclass(frozen=True)
class Cost:
    """Resources and timing of one node (or a whole graph)."""

    lut: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram: float = 0.0
    latency_cycles: int = 0
    ii: int = 1
    stage_ns: float = 0.0   # combinational delay of the slowest pipeline stage

    def __add__(self, other: Cost) -> Cost:
        """Series composition: resources and latencies add, the slowest II and stage win."""
        return Cost(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp,
                    self.bram + other.bram, self.latency_cycles + other.latency_cycles,
                    max(self.ii, other.ii), max(self.stage_ns, other.stage_ns))

    @property
    def fmax_mhz(self) -> float | None:
        """Achievable clock: the slowest stage's delay is the shortest possible period."""
        return 1000.0 / self.stage_ns if self.stage_ns > 0 else None

    def to_dict(self) -> dict[str, float | int | None]:
        fmax = self.fmax_mhz
        return {"lut": round(self.lut, 1), "ff": round(self.ff, 1), "dsp": int(self.dsp),
                "bram": round(self.bram, 2), "latency_cycles": int(self.latency_cycles),
                "ii": int(self.ii), "fmax_mhz": round(fmax, 1) if fmax else None}


@dataclass(frozen=True)
class Coefficients:
    """Tunable constants of the cost rules. Defaults are first-principles values; the
    fitted set (``coefficients.json`` next to this module) replaces them when present.

    - ``dsp_min_bits``: a constant product goes to a DSP when *both* operands exceed this
      many bits. Vivado HLS's rule of thumb (hls4ml docs, "Optimizing for DSPs"; UG1399
      ``BIND_OP``) is ~10 bits; below that a LUT multiplier is cheaper than a DSP48E2.
    - ``dsp_a_bits``, ``dsp_b_bits``: DSP48E2 multiplier port widths, 27 x 18 (UG579).
    - ``lut_per_add_bit``: LUTs per carry-chain bit of a 2-input adder. UltraScale+
      LUT6 + CARRY8 gives 1 LUT per bit (UG574); fitted to Yosys: 0.91.
    - ``add_width_frac``: extra scale on adder bits (1.0; kept for experiments).
    - ``lut_per_cast_bit``: LUTs per output bit for a rounding increment / saturation mux
      (first principles 1; fitted 0.15 — ABC merges most of it into neighbouring LUTs).
    - ``ff_per_reg_bit``: flip-flops per modelled register bit (1 by construction; fitted
      0.76 — Yosys merges duplicate sign-extension flops).
    - ``ns_per_level``, ``ns_per_carry_bit``: delay of one LUT level incl. routing and of
      one carry-chain bit; UltraScale+ -2 speed grade (DS923: LUT ~0.1 ns, net ~0.3-0.4 ns,
      CARRY8 ~0.02 ns/bit). Only used to turn logic levels into cycles.
    - ``clock_margin``: usable fraction of the period (HLS default uncertainty 12.5 %).
    """

    dsp_min_bits: int = 10
    dsp_a_bits: int = 27
    dsp_b_bits: int = 18
    lut_per_add_bit: float = 1.0
    add_width_frac: float = 0.8
    lut_per_cast_bit: float = 1.0
    ff_per_reg_bit: float = 1.0
    ns_per_level: float = 0.45
    ns_per_carry_bit: float = 0.02
    clock_margin: float = 0.875
    source: str = "defaults"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Coefficients:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def fitted(cls) -> Coefficients:
        """The calibrated set shipped with hwai, or the defaults if none was fitted yet."""
        try:
            text = resources.files("hwai.estimate").joinpath("coefficients.json").read_text()
        except (FileNotFoundError, OSError):
            return cls()
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Estimate:
    """Per-node and total cost; ``method`` says which model and coefficients produced it."""

    per_node: dict[str, Cost]
    total: Cost
    method: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "total": self.total.to_dict(),
                "per_node": {k: v.to_dict() for k, v in self.per_node.items()},
                "notes": list(self.notes)}


def estimate(graph: Graph, target: Target, coeffs: Coefficients | None = None) -> Estimate:
    """Estimate LUT/FF/DSP/BRAM, latency and II of ``graph`` built for ``target``
    (latency and II for ``target.io_type`` and each node's reuse factor: :func:`with_timing`)."""
    from hwai.passes.precision import intervals

    coeffs = coeffs or Coefficients.fitted()
    graph.validate()
    iv = intervals(graph)  # exact operand ranges size every adder and register
    per_node: dict[str, Cost] = {}
    notes: list[str] = []
    total = Cost()
    for node in graph.nodes:
        cost, note = op_of(node).cost(graph, node, target, coeffs, iv)  # rules: hwai.ops
        cost = with_timing(graph, node, cost, target)
        per_node[node.name] = cost
        total = total + cost
        if note:
            notes.append(f"{node.name}: {note}")
    fill = total.ii - 1 if target.io_type == "io_stream" else 0
    total = replace(total, latency_cycles=critical_path(graph, per_node) + fill)
    return Estimate(per_node, total, f"analytic-v2 ({coeffs.source})", tuple(notes))


def with_timing(graph: Graph, node: Any, cost: Cost, target: Target) -> Cost:
    """The one rule for how reuse factor and io type set a node's II and latency
    (an op's cost hook gives the fully unrolled, io_parallel latency ``cycles``).

    A node that shares multipliers (``Op.reusable``) with ``impl.reuse_factor`` R starts
    a new input every R cycles: hls4ml's ``dense_latency`` / ``conv_*_latency_cl`` say
    ``#pragma HLS PIPELINE II=R`` with ``ceil(n_in*n_out/R)`` multipliers, and the
    Resource kernels (``dense_resource``) run an R-iteration loop at II 1; both take about
    R - 1 cycles more than the unrolled layer. io_parallel: II = R, latency = cycles + R - 1.
    io_stream: the layer reads its input one row (pixel, particle) per stream read, each
    at II = R (``dense_wrapper``, the conv line buffer, the activation and pooling stream
    loops), so II = rows * R; latency stays ``cycles`` per node, and :func:`estimate` adds
    the slowest layer's II - 1 once for the whole design, since the layers of a dataflow
    pipeline overlap (the last row leaves the slowest layer, then the later layers' depth).
    """
    rf = int(node.impl.get("reuse_factor", 1)) if op_of(node).reusable else 1
    if target.io_type == "io_stream":
        return replace(cost, ii=max(cost.ii, op_of(node).stream_rows(graph, node) * rf))
    return replace(cost, latency_cycles=cost.latency_cycles + rf - 1, ii=max(cost.ii, rf))


def critical_path(graph: Graph, per_node: Mapping[str, Cost]) -> int:
    """Latency of the longest input-to-output path (a chain: the sum of its nodes'), the
    schedule the Verilog emitter builds: a node starts when its latest input is ready."""
    ready = dict.fromkeys(graph.inputs, 0)
    for node in graph.nodes:
        start = max((ready.get(t, 0) for t in node.inputs), default=0)
        for t in node.outputs:
            ready[t] = start + per_node[node.name].latency_cycles
    return max((ready.get(t, 0) for t in graph.outputs), default=0)

