"""The ``synth`` step / ``hwai synth RUN_DIR``: Yosys numbers next to the estimate.

Synthesis is hierarchical (one cached Yosys job per layer, two at a time; see
:func:`hwai.synth.yosys.synth_graph`), so the totals ignore optimisation across layer
boundaries. The numbers are Yosys + ABC mapped to Xilinx primitives, not Vivado's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hwai.estimate import estimate as run_estimate
from hwai.ir.graph import Graph
from hwai.synth.yosys import split_graph
from hwai.synth.yosys import synth_graph as yosys_synth
from hwai.target import Target

COMPARED = ("lut", "ff", "dsp")


def synth_graph(graph: Graph, out_dir: Path, target: Target, cfg: dict, estimate: Any = None,
                log: Callable[[str], None] = print) -> dict:
    """Synthesize ``graph``; return totals, per-part results and estimate-vs-synth rows."""
    family, dsp = cfg.get("family", "xcup"), bool(cfg.get("dsp", True))
    log(f"[hwai]   yosys synth_xilinx -family {family}{'' if dsp else ' -nodsp'}, one job per layer")
    total, parts = yosys_synth(graph, family=family, dsp=dsp, timeout=float(cfg.get("timeout_s", 900)),
                               progress=lambda m: log(f"[hwai]   {m}"))
    est = estimate if estimate is not None else run_estimate(graph, target)
    names = [p.name for p in split_graph(graph, "layer")]
    report = {"family": family, "dsp_inference": dsp, "method": "yosys per-layer, summed",
              "total": total.to_dict(), "per_part": {n: r.to_dict() for n, r in zip(names, parts)},
              "estimate_vs_synth": comparison(est.total.to_dict(), total.to_dict())}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "synth.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    for row in report["estimate_vs_synth"]:
        log(f"[hwai]   {row['resource']:>4}: estimate {row['estimate']:>9.0f}  yosys {row['synth']:>9.0f}"
            f"  ({row['rel_error_pct']:+.1f}%)")
    return report


def yosys_lut(graph: Graph) -> float:
    """Yosys LUTs of ``graph``'s Verilog, counted as the synth step counts them (per layer,
    UltraScale+, defaults), without progress lines: a budget search prices each run with it."""
    total, _ = yosys_synth(graph, progress=lambda _msg: None)
    return float(total.lut)


def comparison(est: dict, syn: dict) -> list[dict]:
    """Estimate vs synthesized per resource, with the estimate's relative error."""
    rows = []
    for key in COMPARED:
        e, s = float(est.get(key, 0.0)), float(syn.get(key, 0.0))
        err = 100.0 * (e - s) / s if s else (0.0 if e == 0 else float("inf"))
        rows.append({"resource": key, "estimate": e, "synth": s, "rel_error_pct": round(err, 1)})
    return rows
