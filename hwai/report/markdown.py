"""report.md: the headline table first, then per-step timings, layers and plots."""

from __future__ import annotations

from typing import Any

from hwai.report.anomaly import anomaly_rows
from hwai.report.outputs import SIDES, output_tables
from hwai.report.summary import layer_table


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if pct:
            return f"{100 * v:.2f}%"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return out


def render_markdown(ctx: Any, head: dict, plots: dict[str, str]) -> str:
    lines = [f"# hwai run: {head['recipe']}", "", ctx.recipe.description or "", ""]
    lines += ["## Headline", ""] + _table(["figure", "value"], _headline_rows(head)) + [""]
    lines += _output_sections(head)
    lines += build_note(ctx)
    if head.get("budget"):
        lines += ["## Budget", ""]
        lines += _table(["resource", "used", "budget", "margin", "ok"],
                        [[r["resource"], _fmt(r["used"]), _fmt(r["budget"]), f"{r.get('margin_pct', 0):.1f}%",
                          "yes" if r["ok"] else "**NO**"] for r in head["budget"]["rows"]]) + [""]
    synth = head.get("synth") or {}
    if synth.get("estimate_vs_synth"):
        lines += ["## Estimate vs Yosys synthesis", "",
                  "Yosys `synth_xilinx` of hwai's Verilog, one job per layer, summed (not Vivado).", ""]
        lines += _table(["resource", "estimate", "yosys", "estimate error"],
                        [[r["resource"], _fmt(r["estimate"]), _fmt(r["synth"]), f"{r['rel_error_pct']:+.1f}%"]
                         for r in synth["estimate_vs_synth"]]) + [""]
    if ctx.graph is not None:
        lines += ["## Layers (from the IR)", ""]
        lines += _table(["node", "op", "weights", "accumulator", "output", "bits min/mean/max", "sparsity"],
                        layer_rows(ctx.graph)) + [""]
    lines += _preprocessing(head.get("preprocessing"))
    lines += ["## Steps", ""]
    lines += _table(["step", "seconds"], [[k, _fmt(v.get("seconds"))] for k, v in ctx.reports.items()]) + [""]
    for title, path in plots.items():
        lines += [f"### {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)


def _output_sections(head: dict) -> list[str]:
    """Several outputs: one table per output, float / framework / firmware side by side."""
    lines = []
    for title, rows in output_tables(head):
        lines += [f"## Output {title}", ""] + _table(["figure", *SIDES], rows) + [""]
    return lines


def build_note(ctx: Any) -> list[str]:
    """What the estimated latency and II describe when the backends differ: the HLS projects
    follow the reuse factors (and hls4ml ``target.io_type``); hwai's Verilog stays fully parallel."""
    from hwai.ir.registry import op_of

    graph, io = ctx.graph, ctx.target.io_type
    nodes = [n for n in graph.nodes if op_of(n).reusable] if graph is not None else []
    rfs = sorted({int(n.impl.get("reuse_factor", 1)) for n in nodes}) or [1]
    if io == "io_parallel" and rfs == [1]:
        return []
    return [f"Latency and II are estimated for the HLS projects (reuse factors {', '.join(map(str, rfs))}; "
            f"hls4ml `{io}`, native HLS `io_parallel`). hwai's Verilog stays fully unrolled: a new input every "
            "clock, whatever the reuse factor.", ""]


def layer_rows(graph: Any) -> list[list[Any]]:
    """The report's per-layer table; heterogeneous layers show their element/weight widths."""
    return [[r["node"], r["op"], r.get("weight_type", "—"), _fmt(r.get("accum_bits")), r["output_type"],
             r.get("bits_min_mean_max", "—"), _fmt(r.get("sparsity"), pct=True) if "sparsity" in r else "—"]
            for r in layer_table(graph)]


def _preprocessing(spec: dict | None) -> list[str]:
    """How to turn physical features into the model's input (also in preprocessing.json)."""
    if not spec:
        return []
    from hwai.codegen.preprocess import markdown_table

    t = spec.get("input_type")
    codes = (f", then `{t['hls']}` ({t['rounding']} rounding, {t['overflow']} overflow)" if t else "")
    headers = ", ".join(f"`{s['header']}`" for s in spec.get("inputs") or []) or "`hwai_preprocess.h`"
    return ["## Input preprocessing", "", f"Standardization: {spec['standardize']}. `{spec['formula']}`{codes}; "
            f"constants in `preprocessing.json` and, for firmware, {headers} in each project.", "",
            markdown_table(spec)]


def _headline_rows(h: dict) -> list[list[Any]]:
    est = h.get("estimate") or {}
    rows = [["float accuracy", _fmt(h.get("float_accuracy"), pct=True)],
            ["compressed accuracy (framework)", _fmt(h.get("compressed_accuracy"), pct=True)],
            ["firmware accuracy (bit-exact golden model)", _fmt(h.get("firmware_accuracy"), pct=True)],
            ["same top class as the framework model", _fmt(h.get("argmax_agreement_framework_vs_firmware"), pct=True)],
            ["sparsity", _fmt(h.get("sparsity"), pct=True)]]
    fw = h.get("firmware_metrics") or {}
    if anomaly_rows(h):   # anomaly runs: efficiency at the rate and AUC per signal instead of accuracy
        rows = rows[-1:] + anomaly_rows(h)
    for cls in fw.get("rejection") or {}:  # class order of the dataset (g, q, W, Z, t)
        rows.append([f"{cls} tagger: AUC / background rejection @ {fw.get('signal_efficiency', 0.5):.0%} signal eff.",
                     f"{_fmt(fw['auc'].get(cls))} / {_fmt(fw['rejection'][cls])}"])
    for key in ("lut", "ff", "dsp", "bram", "latency_cycles", "latency_ns", "ii"):
        if key in est:
            rows.append([f"estimated {key}", _fmt(est[key])])
    if h.get("budget"):
        rows.append(["budget verdict", h["budget"]["verdict"]])
    if (h.get("synth") or {}).get("total"):
        t = h["synth"]["total"]
        rows.append(["Yosys LUT / FF / DSP (per-layer synthesis)", f"{t['lut']:,} / {t['ff']:,} / {t['dsp']}"])
    if h.get("rtl"):
        rows.append([f"RTL ({h['rtl'].get('simulator')}) mismatches", f"{h['rtl']['mismatches']} of {h['rtl']['vectors']:,}"])
    if h.get("csim"):
        rows.append(csim_row(h["csim"]))
    if h.get("budget_ignored"):
        rows.append(["budget", "**FAILED — passed over with --ignore-budget**"])
    rows.append(["wall time, all steps (s)", _fmt(h.get("steps_s"))])
    return rows


def csim_row(csim: dict) -> list[str]:
    return [f"C-sim mismatches ({csim['vectors']:,} vectors)",
            ", ".join(f"{b}: {m}" for b, m in csim["per_backend"].items())]


_CHECK_TITLES = {"csim": "C simulation", "rtl": "RTL simulation", "synth": "Yosys synthesis"}


def merge_check_markdown(text: str, kind: str, head: dict, error: str | None) -> str:
    """report.md after a standalone ``hwai <kind> RUN``: the headline row updated and one
    section per re-check kind (replaced, not appended, when it runs again)."""
    if kind == "csim" and head.get("csim"):
        label, value = csim_row(head["csim"])
        lines = [f"| {label} | {value} |" if ln.startswith("| C-sim mismatches") else ln for ln in text.split("\n")]
        text = "\n".join(lines)
    begin, end = f"<!-- hwai re-check {kind} -->", f"<!-- /hwai re-check {kind} -->"
    if begin in text and end in text:
        text = text[:text.index(begin)].rstrip("\n") + "\n" + text[text.index(end) + len(end):].lstrip("\n")
    summary = (head.get(kind) or {}).get("summary") or ""
    verdict = f"**FAILED**: {error}" if error else f"passed. {summary}"
    section = [begin, f"## Re-check: hwai {kind} ({_CHECK_TITLES.get(kind, kind)})", "", verdict, "", end]
    return text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
