"""A self-contained ``report.html`` for every run and every sweep (plots inline as base64 PNG).

A run's page: headline table, mismatch summary, the run's plots (accuracy-vs-cost front,
bit widths, sparsity), per-layer table, histograms of weights and of every layer's exact
(pre-cast) values against the fixed-point range chosen for it (values outside the red
lines overflow and saturate: visible at a glance, counted in the title), one-vs-rest ROC
curves of the firmware (golden model). A sweep's page: headline, Pareto front, the
recommendation table and every trial, each linked to its run folder.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Any

import numpy as np

MAX_ROWS = 5000   # events used for the histograms and ROC curves: enough to see shapes, fast


@functools.cache
def _environment() -> Any:
    import jinja2

    from hwai.codegen.templates import template_root

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_root() / "report")),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(title: str, sections: list[dict]) -> str:
    """``sections``: {title, rows (list of dicts) | figures (list of {title, uri}) | text}."""
    return _environment().get_template("report.html.j2").render(title=title, sections=sections)


def png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def fig_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# --- a run ---------------------------------------------------------------------------

def write_run_html(ctx: Any, head: dict, plots: dict[str, str]) -> Path:
    """``report.html`` of a run, next to report.md (called by ``write_reports``)."""
    import matplotlib

    matplotlib.use("Agg")
    sections = [{"title": "Headline", "rows": headline_rows(head)},
                {"title": "Simulation mismatches (vs the golden model)", "rows": mismatch_rows(head)}]
    sections[1:1] = output_sections(head)
    figs = [{"title": t, "uri": png_uri(ctx.run_dir / p)} for t, p in plots.items() if (ctx.run_dir / p).is_file()]
    if ctx.graph is not None:
        from hwai.report.summary import layer_table

        sections.append({"title": "Layers", "rows": [_layer_row(r) for r in layer_table(ctx.graph)]})
        figs += range_figures(ctx.graph, _sample(ctx))
        figs += _roc(ctx)
    sections.append({"title": "Plots", "figures": figs})
    path = ctx.run_dir / "report.html"
    path.write_text(render(f"hwai run: {head.get('recipe')}", sections))
    return path


def _roc(ctx: Any) -> list[dict]:
    """The firmware's ROC: one-vs-rest per class, or the anomaly score's per signal."""
    if getattr(ctx.recipe, "outputs", None) and ctx.data is not None:
        from hwai.report.outputs import roc_figures as output_rocs
        return [{"title": t, "uri": fig_uri(f)} for t, f in output_rocs(ctx.graph, ctx.data, ctx.recipe.outputs,
                                                                         4 * MAX_ROWS)]
    anomaly = getattr(ctx.recipe, "anomaly", None)
    if anomaly and ctx.data is not None:
        from hwai.report.anomaly import roc_figure
        return [{"title": "Anomaly score ROC (firmware, golden model)",
                 "uri": fig_uri(roc_figure(ctx.graph, ctx.data, anomaly))}]
    return roc_figures(ctx.graph, ctx.data)


def headline_rows(head: dict) -> list[dict]:
    est, budget = head.get("estimate") or {}, head.get("budget") or {}
    fw = head.get("firmware_metrics") or {}
    pairs = [("recipe", head.get("recipe")), ("status", head.get("status")),
             ("float accuracy", head.get("float_accuracy")), ("compressed accuracy", head.get("compressed_accuracy")),
             ("firmware accuracy", head.get("firmware_accuracy")), ("firmware macro AUC", fw.get("macro_auc")),
             ("sparsity", head.get("sparsity")), ("estimated LUT", est.get("lut")), ("estimated FF", est.get("ff")),
             ("estimated DSP", est.get("dsp")), ("latency (cycles)", est.get("latency_cycles")),
             ("budget", budget.get("verdict")), ("synth LUT (Yosys)", ((head.get("synth") or {}).get("total") or {}).get("lut")),
             ("wall time (s)", head.get("wall_s"))]
    from hwai.report.anomaly import anomaly_rows

    return ([{"figure": k, "value": _fmt(v)} for k, v in pairs if v is not None]
            + [{"figure": k, "value": v} for k, v in anomaly_rows(head)])


def output_sections(head: dict) -> list[dict]:
    """Several outputs: one table per output (float / framework / firmware)."""
    from hwai.report.outputs import SIDES, output_tables

    return [{"title": f"Output {title}", "rows": [dict(zip(("figure", *SIDES), r)) for r in rows]}
            for title, rows in output_tables(head)]


def mismatch_rows(head: dict) -> list[dict]:
    rows = []
    csim = head.get("csim") or {}
    for backend, n in (csim.get("per_backend") or {}).items():
        rows.append({"check": f"C-sim {backend}", "vectors": csim.get("vectors"), "mismatches": n})
    rtl = head.get("rtl") or {}
    if rtl:
        rows.append({"check": f"RTL {rtl.get('simulator', '')}".strip(), "vectors": rtl.get("vectors"),
                     "mismatches": rtl.get("mismatches")})
    return rows or [{"check": "none run", "vectors": "-", "mismatches": "-"}]


def _layer_row(r: dict) -> dict:
    keys = ("node", "op", "output_type", "weight_type", "accum_bits", "bits_min_mean_max", "sparsity",
            "reuse_factor")
    return {k: _fmt(r.get(k)) for k in keys}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _sample(ctx: Any) -> np.ndarray | None:
    data = ctx.data
    if data is None or getattr(data, "x_test", None) is None or not len(data.x_test):
        return None
    return np.asarray(data.x_test[:MAX_ROWS], dtype=np.float64)


def range_figures(graph: Any, x: np.ndarray | None) -> list[dict]:
    """Weights, and each layer's exact pre-cast value, against the chosen type's range
    (what each op can show: :meth:`hwai.ops.base.Op.weight_values` / ``pre_cast``)."""
    from hwai.ir.registry import op_of

    figs = [_hist(f"{node.name}: weights vs {t}", values.ravel(), t)
            for node in graph.nodes for t, values in op_of(node).weight_values(node)]
    if x is None:
        return figs
    from hwai.ir.interp import input_codes, run

    tin = graph.tensor(graph.inputs[0]).type
    figs.insert(0, _hist(f"input features vs {tin}", x.ravel(), tin))
    env = run(graph, input_codes(graph, x), trace=True)   # several inputs: side by side in x
    for node in graph.nodes:
        exact = op_of(node).pre_cast(graph, node, env)
        if exact is not None:
            tout = graph.tensor(node.outputs[0]).type
            figs.append(_hist(f"{node.name}: exact output vs {tout}", exact.ravel(), tout))
    return figs


def _hist(title: str, values: np.ndarray, t: Any) -> dict:
    import matplotlib.pyplot as plt

    lo, hi = t.min_value, t.max_value
    over = int(np.count_nonzero((values < lo) | (values > hi)))
    fig, ax = plt.subplots(figsize=(5.5, 3))
    span = max(hi - lo, 1e-9)
    ax.hist(values, bins=80, range=(min(values.min(), lo) - 0.05 * span, max(values.max(), hi) + 0.05 * span),
            color="tab:blue")
    for edge in (lo, hi):
        ax.axvline(edge, color="tab:red", lw=1.2)
    ax.set_yscale("log")
    share = f"{100 * over / max(values.size, 1):.2f} %"
    ax.set_title(f"{title}: {over:,} outside ({share})", fontsize=8, color="tab:red" if over else "black")
    fig.tight_layout()
    return {"title": f"{title} — overflow {over:,} ({share})", "uri": fig_uri(fig)}


def roc_figures(graph: Any, data: Any) -> list[dict]:
    """One-vs-rest ROC of the firmware: background efficiency (log) vs signal efficiency."""
    from hwai.ir.interp import run_float
    from hwai.metrics import softmax
    from hwai.report.roc import class_roc_figure

    if data is None or getattr(data, "x_test", None) is None or not len(data.x_test):
        return []
    x, y = np.asarray(data.x_test[:4 * MAX_ROWS]), np.asarray(data.y_test[:4 * MAX_ROWS]).astype(int)
    fig = class_roc_figure(softmax(run_float(graph, x)), y, list(data.class_names))
    return [{"title": "ROC curves (firmware, golden model)", "uri": fig_uri(fig)}]


# --- a sweep -------------------------------------------------------------------------

def settings_text(row: dict) -> str:
    """A trial's sampled settings on one line (floats to 4 significant digits)."""
    items = sorted((row.get("settings") or {}).items())
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items) or "-"


def write_sweep_html(sweep_dir: Path, doc: dict) -> Path:
    cols = ("trial", "method", "physics", "cost", "lut", "dsp", "feasible", "stopped_early", "error")
    link = lambda r: {"trial": {"href": f"{r['run_dir']}/report.html", "text": r["trial"]}}  # noqa: E731
    head = [{"figure": k, "value": _fmt(doc.get(k))} for k in
            ("metric", "cost", "trials_requested", "trials", "complete", "stopped_early", "wall_s")]
    if doc.get("chosen"):
        c = doc["chosen"]
        head += [{"figure": "chosen", "value": f"{c['trial']} ({c['method']}): {doc['metric']} {c['physics']:.4f} "
                                               f"at cost {c['cost']:,.0f}"},
                 {"figure": "why", "value": doc.get("chosen_rule", "")}]
    figs = [{"title": "Pareto front: physics vs cost", "uri": png_uri(sweep_dir / "plots" / "pareto.png")}] \
        if (sweep_dir / "plots" / "pareto.png").is_file() else []
    sections = [
        {"title": "Headline", "rows": head},
        {"title": "Pareto front (in budget)", "rows": [{**{k: _fmt(r.get(k)) for k in cols[:6]}, **link(r),
                                                       "settings": settings_text(r)} for r in doc["front"]]},
        {"title": "Plots", "figures": figs},
        {"title": "Recommendation (methods ranked for this task and budget)",
         "rows": [{k: _fmt(v) for k, v in t.items()} for t in doc["recommendation"]]},
        {"title": "All trials", "rows": [{**{k: _fmt(r.get(k)) for k in cols}, **link(r)} for r in doc["rows"]]},
    ]
    path = sweep_dir / "report.html"
    path.write_text(render("hwai sweep", sections))
    return path
