"""What a sweep found: every trial, the Pareto front (physics vs cost), a ranking of methods.

Rows come from the trials' ledgers (``trials/<id>/trial.json``), so the summary is the same
whether the sweep ran in one go, was resumed, or ran on a cluster with a shared folder.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from hwai.report.html import settings_text
from hwai.report.plots import pareto_front

ROW_KEYS = ("method", "settings", "run_dir", "physics", "cost", "objective", "feasible", "accuracy",
            "lut", "dsp", "latency_cycles", "wall_s", "error", "step", "epoch", "epochs", "finished",
            "stopped_early", "node", "n_events")


def load_rows(sweep_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((sweep_dir / "trials").glob("*/trial.json")):
        row = json.loads(path.read_text())
        row["trial"] = path.parent.name
        row.setdefault("run_dir", f"trials/{path.parent.name}")
        rows.append(row)
    return rows


def complete(row: dict) -> bool:
    """A trial that ran all its steps (not stopped by ASHA, not failed)."""
    return not row.get("stopped_early") and not row.get("error") and _finite(row.get("cost"))


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def front(rows: list[dict]) -> list[dict]:
    """Complete, in-budget trials that no other is both cheaper and at least as good at."""
    ok = [r for r in rows if complete(r) and r.get("feasible")]
    keep = set(pareto_front([(r["cost"], r["physics"]) for r in ok]))
    seen, out = set(), []
    for r in sorted(ok, key=lambda r: (r["cost"], -r["physics"])):
        key = (r["cost"], r["physics"])
        if key in keep and key not in seen:
            seen.add(key)
            out.append(r)
    return out


def tolerance(best: dict, metric: str, within: float | None) -> float:
    """How much physics is noise: ``within`` when the recipe sets it, else one binomial
    standard error sqrt(p(1-p)/n) of the best accuracy on its n test events (0.22 % on 40k
    jets at 74 %), and 0 for metrics without a simple error (AUC, rejection)."""
    if within is not None:
        return float(within)
    n, p = best.get("n_events"), best.get("physics")
    if metric != "accuracy" or not n or p is None:
        return 0.0
    return math.sqrt(p * (1.0 - p) / n)


def chosen(rows: list[dict], metric: str = "accuracy", within: float | None = 0.0) -> dict | None:
    """The recommended point: the cheapest on the in-budget front whose physics is within
    :func:`tolerance` of the best (the one-standard-error rule of model selection, Breiman et
    al., CART 1984: a gain smaller than the test set can resolve does not pay for LUTs)."""
    pts = front(rows)
    if not pts:
        return None
    best = max(pts, key=lambda r: (r["physics"], -r["cost"]))
    floor = best["physics"] - tolerance(best, metric, within)
    return min((r for r in pts if r["physics"] >= floor), key=lambda r: (r["cost"], -r["physics"]))


def chosen_rule(rows: list[dict], metric: str, within: float | None) -> str:
    """The rule in words, with its numbers, for sweep.md and report.html."""
    pts = front(rows)
    if not pts:
        return "no trial inside the budget"
    best = max(pts, key=lambda r: (r["physics"], -r["cost"]))
    tol = tolerance(best, metric, within)
    why = "set by search.objective.within" if within is not None else \
        f"one standard error on {best.get('n_events'):,} test events" if tol else "exact best"
    return f"cheapest front point with {metric} >= {best['physics']:.4f} - {tol:.4f} ({why})"


def recommendation(rows: list[dict], metric: str = "accuracy", within: float | None = 0.0) -> list[dict]:
    """Methods ranked the way the chosen point is picked: those with an in-budget point within
    :func:`tolerance` of the best physics first, cheaper first (each shown at its cheapest such
    point), then the others by their best physics: what to use for this task and budget."""
    pts = front(rows)
    top = max(pts, key=lambda r: (r["physics"], -r["cost"])) if pts else None
    floor = top["physics"] - tolerance(top, metric, within) if top else math.inf
    table = []
    for method in sorted({r.get("method", "?") for r in rows}):
        mine = [r for r in rows if r.get("method") == method]
        good = [r for r in mine if complete(r) and r.get("feasible")]
        tied = [r for r in good if r["physics"] >= floor]
        best = min(tied, key=lambda r: (r["cost"], -r["physics"])) if tied else \
            max(good, key=lambda r: (r["physics"], -r["cost"])) if good else None
        table.append({"method": method, "trials": len(mine), "in_budget": len(good),
                      "stopped_early": sum(bool(r.get("stopped_early")) for r in mine),
                      "failed": sum(bool(r.get("error")) for r in mine),
                      "best_physics": best["physics"] if best else None,
                      "best_cost": best["cost"] if best else None,
                      "median_physics": statistics.median([r["physics"] for r in good]) if good else None,
                      "best_run": best["run_dir"] if best else None, "tied": bool(tied)})
    table.sort(key=lambda t: (t["best_physics"] is None, not t["tied"], t["best_cost"] if t["tied"] else 0,
                              -(t["best_physics"] or 0), t["best_cost"] or 0))
    for rank, t in enumerate(table, 1):
        t["rank"] = rank
    return table


def progress_line(sweep_dir: Path, total: int, trial_id: str, metric: str, within: float | None = 0.0) -> str:
    """``[hwai] trial k/N <method> <metric> x cost y [note] | best in budget: ...``"""
    rows = load_rows(Path(sweep_dir))
    row = next((r for r in rows if r["trial"] == trial_id), {})
    note = (f"stopped by ASHA {stopped_at(row)}" if row.get("stopped_early") else "failed: " + str(row["error"])[:80]
            if row.get("error") else "in budget" if row.get("feasible") else "over budget")
    best = chosen(rows, metric, within)
    best_txt = f"{best['physics']:.4f} at {best['cost']:,.0f} ({best['method']})" if best else "none yet"
    cost = f"{row['cost']:,.0f}" if _finite(row.get("cost")) else "-"
    return (f"[hwai] trial {len(rows)}/{total} {row.get('method', '?')}: {metric} "
            f"{row.get('physics') or 0:.4f} cost {cost} ({note}) | best in budget: {best_txt}")


def stopped_at(row: dict) -> str:
    """Where ASHA stopped a trial: ``in train epoch 2/5`` or ``after lower``."""
    if row.get("epoch"):
        return f"in {row.get('step')} epoch {row['epoch']}/{row.get('epochs') or '?'}"
    return f"after {row.get('step') or 'its first report'}"


def shown_settings(row: dict, search: Any, doc: dict | None) -> dict:
    """The row's sampled settings its recipe reads: without, e.g., quantize.bits in an hgq
    trial (:func:`hwai.recipe.schema.ignored_fields`; the ledger keeps every sampled value)."""
    from hwai.recipe.schema import ignored_fields
    from hwai.sweep.space import METHOD, recipe_step_names, trial_document

    settings, method = row.get("settings") or {}, row.get("method")
    if doc is None or method not in search.methods:
        return settings
    steps = trial_document(doc, search, {**settings, METHOD: method})["steps"]
    cfgs = {recipe_step_names({"steps": [s]})[0]: (next(iter(s.values())) or {}) if isinstance(s, dict) else {}
            for s in steps}
    return {k: v for k, v in settings.items()
            if not (k.startswith("steps.") and k.split(".")[2] in ignored_fields(k.split(".")[1],
                                                                                 cfgs.get(k.split(".")[1], {})))}


def summary_doc(sweep_dir: Path, search: Any, wall_s: float | None = None) -> dict:
    recipe = sweep_dir / "recipe.json"
    doc = json.loads(recipe.read_text()) if recipe.is_file() else None
    rows = [{**r, "settings": shown_settings(r, search, doc)} for r in load_rows(sweep_dir)]
    old = json.loads((sweep_dir / "sweep.json").read_text()) if (sweep_dir / "sweep.json").is_file() else {}
    walls = [*old.get("wall_s_sessions", []), *([round(wall_s, 1)] if wall_s is not None else [])]
    return {"metric": search.metric, "cost": search.cost, "trials_requested": search.trials,
            "trials": len(rows), "complete": sum(complete(r) for r in rows),
            "stopped_early": sum(bool(r.get("stopped_early")) for r in rows),
            "wall_s_sessions": walls, "wall_s": round(sum(walls), 1),
            "front": front(rows), "chosen": chosen(rows, search.metric, search.within),
            "chosen_rule": chosen_rule(rows, search.metric, search.within),
            "recommendation": recommendation(rows, search.metric, search.within),
            "rows": rows}


def write_sweep(sweep_dir: Path, search: Any, wall_s: float | None = None) -> str:
    """sweep.json, sweep.md, plots/pareto.png and report.html; returns a one-line summary."""
    from hwai.report.html import write_sweep_html

    doc = summary_doc(sweep_dir, search, wall_s)
    (sweep_dir / "sweep.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    plot = sweep_plot(doc, sweep_dir / "plots" / "pareto.png")
    (sweep_dir / "sweep.md").write_text(markdown(doc, plot))
    write_sweep_html(sweep_dir, doc)
    best = doc["chosen"]
    pick = f"best in budget {best['physics']:.4f} at cost {best['cost']:,.0f} ({best['method']})" if best else \
        "no trial inside the budget"
    return f"{doc['trials']} trials ({doc['complete']} complete, {doc['stopped_early']} stopped by ASHA), {pick}"


def sweep_plot(doc: dict, path: Path) -> str | None:
    """Physics vs cost, one colour per method, the front as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["rows"] if complete(r)]
    if not rows:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        ax.scatter([r["cost"] for r in mine], [r["physics"] for r in mine], label=method, zorder=3,
                   marker="o" if all(r.get("feasible") for r in mine) else "x")
    if doc["front"]:
        ax.step([r["cost"] for r in doc["front"]], [r["physics"] for r in doc["front"]], where="post",
                color="black", ls="--", label="Pareto front (in budget)")
    ax.set_xlabel(f"cost ({doc['cost']})")
    ax.set_ylabel(doc["metric"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plots/{path.name}"


def markdown(doc: dict, plot: str | None) -> str:
    lines = [f"# Sweep: {doc['trials']} trials, {doc['complete']} complete, {doc['stopped_early']} stopped "
             f"early by ASHA, {doc['wall_s']:.0f} s", "",
             f"Objective: maximise `{doc['metric']}` (firmware, golden model), minimise `{doc['cost']}` "
             "(estimated), inside the recipe budget.", "", "## Pareto front", "",
             f"| trial | method | {doc['metric']} | cost | LUT | DSP | settings |", "|---|---|---|---|---|---|---|"]
    for r in doc["front"]:
        lines.append(f"| [{r['trial']}]({r['run_dir']}/report.md) | {r['method']} | {r['physics']:.4f} | "
                     f"{r['cost']:,.0f} | {_num(r.get('lut'))} | {_num(r.get('dsp'))} | {settings_text(r)} |")
    if plot:
        lines += ["", f"![Pareto front]({plot})"]
    lines += ["", "## Recommendation", "", "Each method at its cheapest in-budget point within the tolerance of the "
              "best (marked =), else at its most accurate one; ranked like the chosen point.", "",
              "| rank | method | its point | its cost | median | trials | in budget | stopped early |",
              "|---|---|---|---|---|---|---|---|"]
    for t in doc["recommendation"]:
        lines.append(f"| {t['rank']} | {t['method']} | {'= ' if t.get('tied') else ''}{_num(t['best_physics'], '.4f')} | "
                     f"{_num(t['best_cost'])} | "
                     f"{_num(t['median_physics'], '.4f')} | {t['trials']} | {t['in_budget']} | {t['stopped_early']} |")
    if doc["chosen"]:
        lines += ["", f"Chosen: {doc['chosen']['trial']} ({doc['chosen']['method']}), the {doc['chosen_rule']}; "
                  "`hwai sweep SWEEP_DIR --best [--synth]` re-runs it through emit, C-sim and RTL."]
    return "\n".join(lines) + "\n"


def _num(x: Any, fmt: str = ",.0f") -> str:
    return format(x, fmt) if _finite(x) else "-"
