"""The recipe steps. Each is ``fn(ctx, step) -> report dict``, writes its checkpoint and
registers itself with ``@registry.step(name)`` (the runner finds it there).

Training-level steps (train, prune, quantize, distill) call the framework engine;
``lower`` crosses into the IR; everything after it works on ``ctx.graph`` only, so
Keras and torch models get identical guarantees.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hwai import data as datasets  # datasets.load_dataset: looked up per call (tests swap it)
from hwai.budget import check_budget, used_amount
from hwai.codegen import emitters, preprocess
from hwai.codegen.emitters import CSIM_BACKENDS
from hwai.codegen.native import flat_inputs
from hwai.distill import distill_report
from hwai.engines.base import Engine
from hwai.errors import BudgetError, DataError, HwaiError, MismatchError, RecipeError, RunFolderError
from hwai.estimate import ebops, estimate
from hwai.estimate.arith import choose_arith
from hwai.estimate.cost import Estimate
from hwai.ir.graph import Graph
from hwai.ir.interp import input_codes, run_float, run_float_outputs
from hwai.ir.numeric import DEFAULT_TYPE, fixed_from_dict
from hwai.ir.registry import op_of
from hwai.metrics import anomaly_metrics, classification_metrics, output_metrics
from hwai.passes.pipeline import with_arith, with_reuse_factor
from hwai.progress import progress
from hwai.recipe import registry
from hwai.recipe.context import RunContext
from hwai.recipe.schema import (
    IR_PRODUCERS,
    MODEL_STEPS,
    Step,
    anomaly_training,
    check_output_classes,
    check_output_widths,
    without_none,
)
from hwai.report.summary import layer_table
from hwai.sim import checks
from hwai.sim.vectors import make_vectors
from hwai.symbolic.step import run_symbolic
from hwai.synth.flow import synth_graph, yosys_lut

# --- setup / resume ---------------------------------------------------------------

def make_engine(framework: str) -> Engine:
    if framework == "torch":
        from hwai.engines.torch import TorchEngine
        return TorchEngine()
    from hwai.engines.keras import KerasEngine
    return KerasEngine()


def setup(ctx: RunContext, data_path: str | None) -> None:
    ctx.engine = make_engine(ctx.recipe.model["framework"])
    ctx.log(f"[hwai] data: {data_path or ctx.recipe.data['source']}")
    ctx.data = datasets.load_dataset(dict(ctx.recipe.data), ctx.seed, override_path=data_path)
    if len(ctx.data.x_test) == 0:
        raise DataError("data.split.test is 0: every model a recipe produces is evaluated on the test split")
    ctx.log(f"[hwai] data: {len(ctx.data.x_train)} train / {len(ctx.data.x_val)} val / "
            f"{len(ctx.data.x_test)} test rows, classes {', '.join(ctx.data.class_names)}")
    if ctx.recipe.outputs:   # before the model is built: the classes each score output names
        check_output_classes(ctx.recipe.outputs, ctx.data.class_names, str(ctx.recipe.path))
    ctx.model = ctx.engine.build(model_cfg(ctx), ctx.data, ctx.seed)
    if ctx.recipe.outputs:   # before any training: one entry per model output, of the right width
        check_output_widths(ctx.recipe.outputs, ctx.engine.output_widths(ctx.model), ctx.data.class_names,
                            str(ctx.recipe.path))
    check_prune_names(ctx)


def check_prune_names(ctx: RunContext) -> None:
    """``prune.skip_layers`` / ``prune.layers`` name weight layers of the built model: checked
    before any training, for the prune steps before a distill step (which trains another model)."""
    named = [s for s in ctx.recipe.steps[:_first(ctx.recipe.steps, "distill")]
             if s.name == "prune" and (s.cfg.get("skip_layers") or s.cfg.get("layers"))]
    names = list(ctx.engine.sparsity(ctx.model)) if named else []
    for s in named:
        for key in ("skip_layers", "layers"):
            unknown = [n for n in (s.cfg.get(key) or []) if n not in names]
            if unknown:
                raise RecipeError(f"{ctx.recipe.path}: steps[{s.index - 1}].prune.{key}: no weight layer named "
                                  f"{unknown[0]!r} in the model (weight layers: {', '.join(names)})")


def _first(steps: tuple[Step, ...], name: str) -> int:
    return next((k for k, s in enumerate(steps) if s.name == name), len(steps))


def model_cfg(ctx: RunContext) -> dict:
    """The recipe's model section, with its ``outputs:`` (arch multihead builds one head each)."""
    return with_outputs(ctx, dict(ctx.recipe.model))


def with_outputs(ctx: RunContext, cfg: dict) -> dict:
    """``cfg`` plus the recipe's ``outputs:`` list when it has one (the engine reads it there)."""
    return {**cfg, "outputs": [dict(o) for o in ctx.recipe.outputs]} if ctx.recipe.outputs else cfg


def restore(ctx: RunContext, done: list[Step]) -> None:
    """Reload reports, the latest model checkpoint and the IR of steps already run."""
    for step in done:
        folder = ctx.step_dir(step)
        rep = folder / "report.json"
        if not rep.is_file():
            raise HwaiError(f"{folder}: step {step.name} has no report; rerun without --from")
        ctx.reports[step.folder] = json.loads(rep.read_text())
        ckpt = folder / "checkpoint"
        if step.name in MODEL_STEPS and ckpt.exists():
            ctx.model = ctx.engine.restore(ckpt)
        if step.name in IR_PRODUCERS and (ckpt / "graph.json").exists():
            ctx.graph = Graph.load(ckpt)
        ctx.state.candidates.extend(ctx.reports[step.folder].get("candidates", []))
    # the vectors belong to the emitted projects (their testbenches): reused only if emit is done,
    # so a run resumed at emit with another csim.vectors makes (and emits) the new ones
    done_names = {s.name for s in done}
    if ctx.graph is not None and "emit" in done_names and (ctx.run_dir / "vectors" / "inputs.npy").exists():
        ctx.state.vectors = np.load(ctx.run_dir / "vectors" / "inputs.npy")
    for step in done:
        if step.name == "emit":
            ctx.state.emitted = ctx.reports[step.folder].get("backends", {})


# --- evaluation helpers -----------------------------------------------------------

def signal_efficiency(ctx: RunContext) -> float:
    for s in ctx.recipe.steps:
        if s.name == "evaluate":
            return float(s.cfg["signal_efficiency"])
    return 0.5


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def framework_metrics(ctx: RunContext) -> dict:
    if ctx.recipe.outputs:
        return per_output_metrics(ctx, ctx.engine.output_logits(ctx.model, ctx.data.x_test))
    logits = ctx.engine.logits(ctx.model, ctx.data.x_test)
    if ctx.recipe.anomaly:
        return score_metrics(ctx, logits)
    return classification_metrics(ctx.data.y_test, softmax(logits), ctx.data.class_names,
                                  signal_efficiency(ctx))


def score_metrics(ctx: RunContext, scores: np.ndarray) -> dict:
    """An anomaly model's one output is its score: efficiency at the background rate and AUC per signal."""
    a = ctx.recipe.anomaly
    return anomaly_metrics(ctx.data.y_test, np.asarray(scores)[:, 0], ctx.data.class_names,
                           list(a["background"]), list(a["signals"]), float(a["rate"]))


def per_output_metrics(ctx: RunContext, outputs: list[np.ndarray]) -> dict:
    """Several outputs (recipe ``outputs:``): ``{name: metrics}`` under ``outputs``, each by its
    task; the first output's metrics also stay at the top level, where one-output readers look."""
    per = output_metrics(ctx.data.y_test, outputs, ctx.recipe.outputs, ctx.data.class_names,
                         signal_efficiency(ctx))
    return {**per[ctx.recipe.outputs[0]["name"]], "outputs": per}


def headline(metrics: dict) -> str:
    """One log line's worth of a metrics dict (classifier or anomaly; several outputs: each)."""
    if "outputs" in metrics:
        return " | ".join(f"{name}: {headline(m)}" for name, m in metrics["outputs"].items())
    if "efficiency" in metrics:
        return "  ".join(f"{s}: eff {metrics['efficiency'][s]:.4f} AUC {metrics['auc'][s]:.4f}"
                         for s in metrics["signals"]) + f" (at {metrics['rate']:.2%} background)"
    return f"accuracy {metrics['accuracy']:.4f}  macro AUC {metrics.get('macro_auc') or float('nan'):.4f}"


def golden_logits(graph: Graph, x: np.ndarray) -> np.ndarray:
    return run_float(graph, x)


def golden_metrics(ctx: RunContext, graph: Graph) -> dict:
    if ctx.recipe.outputs:
        return per_output_metrics(ctx, run_float_outputs(graph, ctx.data.x_test))
    logits = golden_logits(graph, ctx.data.x_test)
    if ctx.recipe.anomaly:
        return score_metrics(ctx, logits)
    return classification_metrics(ctx.data.y_test, softmax(logits), ctx.data.class_names,
                                  signal_efficiency(ctx))


def _candidate(ctx: RunContext, step: Step, metrics: dict, graph: Graph | None) -> dict:
    """One point for the accuracy-vs-cost plot: each model a step produced."""
    row = {"step": step.folder, "accuracy": metrics.get("accuracy"), "auc": metrics.get("macro_auc")}
    if graph is not None:
        try:
            row.update(estimate(graph, ctx.target).total.to_dict())
        except Exception as err:  # the plot is a nicety; a failed estimate must not stop the run
            ctx.log(f"[hwai]   (no cost estimate for {step.folder}: {err})")
    return row


# --- training-level steps ---------------------------------------------------------

# A training step's description is the engine protocol's (one text for Keras and torch).
@registry.step("train", doc=Engine.train)
def step_train(ctx: RunContext, step: Step) -> dict:
    return _model_step(ctx, step)


@registry.step("prune", doc=Engine.prune)
def step_prune(ctx: RunContext, step: Step) -> dict:
    return _model_step(ctx, step)


@registry.step("quantize", doc=Engine.quantize)
def step_quantize(ctx: RunContext, step: Step) -> dict:
    if not (step.cfg.get("search") or {}).get("cost"):
        return _model_step(ctx, step)
    cfg = _training_cfg(ctx, step)
    metric, limit = _search_limit(ctx, cfg)
    result = _budget_search(ctx, step, cfg, metric, limit)
    ctx.model = result.model
    return {**_after_model_step(ctx, step), "budget_search": result.report(metric, limit)}


def _search_limit(ctx: RunContext, cfg: dict) -> tuple[str, float]:
    """The searched cost and its limit: ``search.limit``, else the recipe budget's ``lut``."""
    s = cfg["search"]
    limit = s.get("limit")
    if limit is None and s["cost"] in ("lut", "yosys"):
        limit = ctx.recipe.budget.get("lut")
    if limit is None:
        need = "quantize.search.limit" if s["cost"] == "ebops" else "budget.lut or quantize.search.limit"
        raise RecipeError(f"{ctx.recipe.path}: quantize.search: nothing to search for; set {need}")
    return s["cost"], float(limit)


def _budget_search(ctx: RunContext, step: Step, cfg: dict, metric: str, limit: float) -> Any:
    """Find the penalty beta that lands the design inside the budget (:mod:`.budget_search`):
    each run is trained, lowered exactly as the lower step will, costed by hwai's estimate
    and EBOPs, and scored by the bit-exact golden model on the validation rows."""
    from hwai.recipe.budget_search import SearchConfig, SearchFailed, search, search_report

    s = cfg["search"]
    scfg = SearchConfig(limit=limit, metric=metric, beta_start=s["beta_start"], beta_min=s["beta_min"],
                        beta_max=s["beta_max"], probes=s["runs"], epochs=cfg["epochs"],
                        latency_ns=_latency_limit(ctx))
    start, lower_cfg = ctx.model, _lower_cfg(ctx)

    def train(beta: float, epochs: int) -> Any:
        return ctx.engine.quantize(start, ctx.data, {**cfg, "beta": beta, "epochs": epochs}, ctx.seed)

    def cost(model: Any) -> dict:
        graph = lower_graph(ctx, model, lower_cfg, "quantize.search")
        logits = golden_logits(graph, ctx.data.x_val)
        est = estimate(graph, ctx.target)
        out = {"lut": est.total.lut, "ebops": ebops(graph), "latency_ns": used_amount(est, "latency_ns", ctx.target),
               "accuracy": float((logits.argmax(1) == ctx.data.y_val).mean())}
        if metric == "yosys":  # the run's own Verilog, synthesized as the synth step does
            out["yosys"] = yosys_lut(graph)
        return out

    try:
        return search(scfg, train, cost, log=ctx.log)
    except SearchFailed as err:           # the report is kept: it says what was tried
        _write_step_report(ctx, step, {"budget_search": search_report(metric, limit, err.probes, failed=str(err))})
        raise


def _latency_limit(ctx: RunContext) -> float | None:
    """The budget's latency in ns (``latency_ns``, else ``latency_cycles`` at the target clock):
    the search keeps only runs that meet it, as the budget step will check."""
    b = ctx.recipe.budget
    if b.get("latency_ns") is not None:
        return float(b["latency_ns"])
    if b.get("latency_cycles") is not None:
        return float(b["latency_cycles"]) * ctx.target.clock_period_ns
    return None


def _lower_cfg(ctx: RunContext) -> dict:
    """The recipe's lower step settings (defaults filled), or the defaults when it has none."""
    for st in ctx.recipe.steps:
        if st.name == "lower":
            return dict(st.cfg)
    return {"reuse_factor": 1, "arith": "csd"}


@registry.step("distill", doc=Engine.distill)
def step_distill(ctx: RunContext, step: Step) -> dict:
    cfg = _training_cfg(ctx, step)
    ctx.model = _distill(ctx, cfg)
    return _distill_comparison(ctx, step, _after_model_step(ctx, step))


def _model_step(ctx: RunContext, step: Step) -> dict:
    """train/prune/quantize: the engine method of the same name on the current model."""
    cfg = _training_cfg(ctx, step)
    ctx.model = getattr(ctx.engine, step.name)(ctx.model, ctx.data, cfg, ctx.seed)
    return _after_model_step(ctx, step)


def _training_cfg(ctx: RunContext, step: Step) -> dict:
    if len(ctx.data.x_train) == 0 or len(ctx.data.x_val) == 0:
        raise HwaiError(f"step {step.name}: data.split leaves no train/val rows to train on")
    cfg = with_outputs(ctx, without_none(dict(step.cfg)))   # several outputs: one loss each
    return {**cfg, "anomaly": anomaly_training(ctx.recipe)} if ctx.recipe.anomaly else cfg


def _distill(ctx: RunContext, cfg: dict) -> Any:
    teacher = ctx.model if cfg["teacher"] == "previous" else _load_teacher(ctx, cfg["teacher"])
    student = ctx.engine.build({**dict(ctx.recipe.model), **_student_cfg(cfg)}, ctx.data, ctx.seed)
    ctx.state.teacher = teacher
    return ctx.engine.distill(student, teacher, ctx.data, cfg, ctx.seed)


def _distill_comparison(ctx: RunContext, step: Step, rep: dict) -> dict:
    """What distillation bought: teacher vs student physics metrics and estimated cost."""
    teacher, student_model = ctx.state.teacher, ctx.model
    ctx.model = teacher
    t_metrics, t_graph = framework_metrics(ctx), _try_lower(ctx)
    ctx.model = student_model
    t_cost = _candidate(ctx, step, t_metrics, t_graph)
    s_cost = rep["candidates"][0]
    keys = ("lut", "ff", "dsp", "latency_cycles")
    comparison = distill_report(_flat(t_metrics), _flat(rep["metrics"]),
                                {k: t_cost[k] for k in keys if k in t_cost},
                                {k: s_cost[k] for k in keys if k in s_cost})
    ctx.log(f"[hwai]   teacher accuracy {t_metrics['accuracy']:.4f} ({t_cost.get('lut', 0):.0f} LUT) -> "
            f"student {rep['metrics']['accuracy']:.4f} ({s_cost.get('lut', 0):.0f} LUT)")
    return {**rep, "teacher_metrics": t_metrics, "student_metrics": rep["metrics"], "comparison": comparison}


def _flat(metrics: dict) -> dict:
    """accuracy, macro AUC and per-class rejection as one flat dict of numbers."""
    out = {k: metrics[k] for k in ("accuracy", "macro_auc") if k in metrics}
    out.update({f"rejection_{c}": v for c, v in (metrics.get("rejection") or {}).items() if v is not None})
    return out


def _student_cfg(cfg: dict) -> dict:
    student = {k: v for k, v in (cfg.get("student") or {}).items() if v is not None}
    base = {"arch": "jet_mlp", "path": None, "factory": None}
    return {**base, **student}


def _load_teacher(ctx: RunContext, path: str) -> Any:
    p = Path(path)
    if not p.exists():
        raise HwaiError(f"distill.teacher: {path} not found (give a model file or 'previous')")
    return ctx.engine.build({**dict(ctx.recipe.model), "arch": None, "path": str(p)}, ctx.data, ctx.seed)


def _after_model_step(ctx: RunContext, step: Step) -> dict:
    ctx.engine.save(ctx.model, ctx.step_dir(step) / "checkpoint")
    metrics = framework_metrics(ctx)
    ctx.log(f"[hwai]   test {headline(metrics)}")
    graph = _try_lower(ctx)
    cand = _candidate(ctx, step, metrics, graph)
    ctx.state.candidates.append(cand)
    return {"metrics": metrics, "sparsity": ctx.engine.sparsity(ctx.model),
            "bit_widths": ctx.engine.bit_widths(ctx.model), "candidates": [cand]}


def _try_lower(ctx: RunContext) -> Graph | None:
    try:
        return ctx.engine.lower(ctx.model, DEFAULT_TYPE, {})
    except HwaiError as err:
        ctx.log(f"[hwai]   (candidate not lowerable for costing: {err})")
        return None


@registry.step("evaluate")
def step_evaluate(ctx: RunContext, step: Step) -> dict:
    """Physics metrics (accuracy, AUC, background rejection) of the model and, once lowered, of the firmware."""
    rep: dict[str, Any] = {"framework": framework_metrics(ctx)}
    if ctx.graph is not None:
        rep["firmware"] = golden_metrics(ctx, ctx.graph)
    ctx.log(f"[hwai]   {headline(rep['framework'])}")
    return rep


# --- IR-level steps ------------------------------------------------------------------

@registry.step("lower")
def step_lower(ctx: RunContext, step: Step) -> dict:
    """Lower the framework model into the typed fixed-point IR (the golden model)."""
    graph = lower_graph(ctx, ctx.model, dict(step.cfg), f"{ctx.recipe.path}: steps[{step.index - 1}].lower")
    ctx.graph = graph
    graph.save(ctx.step_dir(step) / "checkpoint")
    return lowered_report(ctx, graph)


def lower_graph(ctx: RunContext, model: Any, cfg: dict, where: str) -> Graph:
    """``model`` in the IR as the lower step builds it: input type, reuse factor, arithmetic,
    preprocessing; validated. The budget search costs its probes with the same graph."""
    input_type = fixed_from_dict(cfg.get("input"), DEFAULT_TYPE)
    graph = ctx.engine.lower(model, input_type, cfg)
    per_layer = layer_reuse_factors(graph, cfg.get("layers") or {}, where)
    check_reuse_factor(graph, cfg["reuse_factor"], where, per_layer)
    arith = cfg.get("arith", "csd")
    graph = with_reuse_factor(graph, cfg["reuse_factor"], per_layer)
    if arith != "auto":
        graph = with_arith(graph, arith)
    graph = preprocess.attach(graph, ctx.data).validate()
    return choose_arith(graph, ctx.target) if arith == "auto" else graph


def check_reuse_factor(graph: Graph, reuse_factor: int, where: str, per_layer: dict[str, int] | None = None) -> None:
    """A layer that honours the reuse factor (dense) time-multiplexes its n_in*n_out
    multiplications over reuse_factor cycles; a larger factor than that has nothing to share
    and hls4ml rejects it. ``per_layer`` (``lower.layers``) overrides the global factor."""
    per_layer = per_layer or {}
    sizes = {n.name: sum(int(w.size) for w in op_of(n).weights(n))
             for n in graph.nodes if op_of(n).reusable}
    for name, size in sorted(sizes.items(), key=lambda kv: kv[1]):
        rf = per_layer.get(name, reuse_factor)
        if rf > size:
            field = f"layers.{name}.reuse_factor" if name in per_layer else "reuse_factor"
            raise RecipeError(f"{where}.{field}: {rf} is larger than dense layer {name!r} "
                              f"({size} multiplications); use at most {size}")


def layer_reuse_factors(graph: Graph, layers: dict, where: str) -> dict[str, int]:
    """``lower.layers`` -> {layer: reuse_factor}; a name that is no layer sharing multipliers is an error."""
    known = sorted(n.name for n in graph.nodes if op_of(n).reusable)
    for name in layers:
        if name not in known:
            raise RecipeError(f"{where}.layers.{name}: no dense or convolution layer {name!r} in the model "
                              f"(layers: {', '.join(known)})")
    return {k: int(v["reuse_factor"]) for k, v in sorted(layers.items()) if v.get("reuse_factor") is not None}


def lowered_report(ctx: RunContext, graph: Graph) -> dict:
    fw = golden_metrics(ctx, graph)
    rep = {"firmware_metrics": fw, "layers": layer_table(graph)}
    if ctx.model is not None and ctx.graph is graph and "symbolic" not in graph.meta.get("kind", "") \
            and not ctx.recipe.anomaly:   # one score per event: no argmax to compare
        agree = argmax_agreement(ctx, graph)
        if agree:   # the worst output heads the report
            rep["argmax_agreement_framework_vs_firmware"] = min(agree.values())
        if ctx.recipe.outputs:
            rep["argmax_agreement_per_output"] = agree
    ctx.log(f"[hwai]   firmware (fixed-point golden model) {headline(fw)}")
    return rep


def argmax_agreement(ctx: RunContext, graph: Graph) -> dict[str, float]:
    """Per classification output: the share of test events whose top class is the same in the
    framework model and the firmware (a score output has no top class)."""
    x = ctx.data.x_test
    if not ctx.recipe.outputs:
        return {"output": float((ctx.engine.logits(ctx.model, x).argmax(1) == golden_logits(graph, x).argmax(1)).mean())}
    pairs = zip(ctx.recipe.outputs, ctx.engine.output_logits(ctx.model, x), run_float_outputs(graph, x))
    return {o["name"]: float((a.argmax(1) == b.argmax(1)).mean()) for o, a, b in pairs if o["task"] == "classify"}


@registry.step("estimate")
def step_estimate(ctx: RunContext, step: Step) -> dict:
    """Estimate LUT/FF/DSP/BRAM, latency and II of the IR on the target part."""
    graph = _need_graph(ctx, step)
    est = estimate(graph, ctx.target)
    ctx.state.estimate = est
    total = est.total.to_dict()
    ops = ebops(graph)
    ctx.log("[hwai]   " + "  ".join(f"{k}={v}" for k, v in total.items()) + f"  ebops={ops:.0f}")
    return {"total": total, "ebops": ops, "per_node": {k: v.to_dict() for k, v in est.per_node.items()},
            "method": est.method}


@registry.step("budget")
def step_budget(ctx: RunContext, step: Step) -> dict:
    """Check the estimate against the recipe budget (exit 4 when on_fail is error)."""
    est = ctx.state.estimate or estimate(_need_graph(ctx, step), ctx.target)
    budget = {k: v for k, v in ctx.recipe.budget.items() if k != "on_fail" and v is not None}
    report = check_budget(est, budget, ctx.target)
    on_fail = step.cfg.get("on_fail") or ctx.recipe.budget["on_fail"]
    for line in report.table().splitlines():
        ctx.log("[hwai]   " + line)
    rep = {"ok": report.ok, "on_fail": on_fail, **report.to_dict()}
    if step.cfg.get("synth") or ctx.state.confirm_with_synth:
        report, rep = _confirm_with_synth(ctx, est, budget, rep)
    if not rep["ok"] and on_fail == "error" and ctx.state.ignore_budget:
        ctx.state.budget_ignored = True  # an explicit --ignore-budget: recorded in status and reports
        ctx.log("[hwai]   WARNING: budget exceeded; continuing because of --ignore-budget (recorded)")
        return {**rep, "ignored": True}
    if not rep["ok"] and on_fail == "error":
        _write_step_report(ctx, step, rep)
        failed = ", ".join(r["resource"] for r in report.to_dict()["rows"] if not r["ok"])
        raise BudgetError(f"budget exceeded ({failed}); see {ctx.step_dir(step)}/report.json — "
                          "compress harder (sparsity, bits) or set budget.on_fail: warn")
    return rep


def _confirm_with_synth(ctx: RunContext, est: Estimate, budget: dict, rep: dict) -> tuple[Any, dict]:
    """``--synth``: re-check LUT/FF/DSP against Yosys (latency/II stay estimated)."""
    syn = synth_graph(ctx.graph, ctx.run_dir / "synth", ctx.target, budget_synth_cfg(ctx.recipe.steps),
                      estimate=est, log=ctx.log)
    total = syn["total"]
    confirmed = replace(est, total=replace(est.total, lut=float(total["lut"]), ff=float(total["ff"]),
                                           dsp=int(total["dsp"])), method="yosys synth_xilinx (LUT/FF/DSP)")
    report = check_budget(confirmed, budget, ctx.target)
    for line in report.table().splitlines():
        ctx.log("[hwai]   synth: " + line)
    ctx.state.synth_report = syn
    return report, {**rep, "ok": report.ok, "estimate_rows": rep.get("rows"), **report.to_dict(),
                    "confirmed_with_synth": True, "estimate_vs_synth": syn["estimate_vs_synth"]}


def budget_synth_cfg(steps: tuple[Step, ...]) -> dict:
    """Yosys settings of the budget's ``--synth`` check: the target's UltraScale+ family, with
    the recipe's synth step's ``dsp`` and ``timeout_s`` if it has one (a design given an hour
    there must not fail here after 15 minutes; ``dsp: false`` keeps products in fabric, as a
    0-DSP budget means), so the synth step can reuse the result."""
    synth = next((s for s in steps if s.name == "synth"), None)
    own = {"dsp": bool(synth.cfg["dsp"]), "timeout_s": synth.cfg["timeout_s"]} if synth else {}
    return {"family": "xcup", "dsp": True, **own}


def _write_step_report(ctx: RunContext, step: Step, rep: dict) -> None:
    path = ctx.step_dir(step) / "report.json"
    path.write_text(json.dumps({"step": step.name, **rep}, indent=1, sort_keys=True, default=str) + "\n")


def _need_graph(ctx: RunContext, step: Step) -> Graph:
    if ctx.graph is None:
        raise HwaiError(f"step {step.name}: no IR yet; add a 'lower' (or 'symbolic') step before it")
    return ctx.graph


def csim_vectors(ctx: RunContext) -> np.ndarray:
    """The test vectors every backend is checked with (real rows + random + corners)."""
    if ctx.state.vectors is None:
        n = next((int(s.cfg["vectors"]) for s in ctx.recipe.steps if s.name == "csim"), 10000)
        real = flat_inputs(ctx.graph, input_codes(ctx.graph, ctx.data.x_test))
        ctx.state.vectors = make_vectors(ctx.graph, n, ctx.seed, real_codes=real)
        vdir = ctx.run_dir / "vectors"
        vdir.mkdir(exist_ok=True)
        np.save(vdir / "inputs.npy", ctx.state.vectors)
    return ctx.state.vectors


@registry.step("emit")
def step_emit(ctx: RunContext, step: Step) -> dict:
    """Write HLS (hls4ml, native) and/or Verilog projects into the run folder."""
    graph = _need_graph(ctx, step)
    vectors = csim_vectors(ctx)
    out = {}
    for backend in step.cfg["backend"]:
        ctx.log(f"[hwai]   emitting {backend}")
        out[backend] = emitters.emit(backend, graph, ctx.target, ctx.run_dir, vectors)
    ctx.state.emitted = out
    return {"backends": out}


@registry.step("csim")
def step_csim(ctx: RunContext, step: Step) -> dict:
    """Compile the emitted HLS with g++ and compare every output with the golden model."""
    graph = _need_graph(ctx, step)
    vectors = csim_vectors(ctx)
    if len(vectors) != int(step.cfg["vectors"]):
        raise RunFolderError(f"steps[{step.index - 1}].csim.vectors: {step.cfg['vectors']}, but the emitted projects "
                             f"were made with {len(vectors)} vectors ({ctx.run_dir / 'vectors' / 'inputs.npy'}); "
                             "resume --from emit to emit them with the new count")
    emitted = ctx.state.emitted
    backends = step.cfg.get("backend") or [b for b in emitted if b in CSIM_BACKENDS]
    if not backends:
        raise HwaiError("csim: nothing emitted to simulate; add an 'emit' step before 'csim'")
    results = {}
    with progress("C-sim", total=len(backends)) as prog:
        for b in backends:
            results[b] = checks.csim(b, graph, ctx.run_dir, vectors, log=ctx.log)
            prog.update()
    rep = {"vectors": int(len(vectors)), "backends": results,
           "mismatches": int(sum(r["mismatches"] for r in results.values()))}
    if rep["mismatches"]:
        _write_step_report(ctx, step, rep)
        bad = "; ".join(r["summary"] for r in results.values() if r["mismatches"])
        raise MismatchError(f"C simulation differs from the golden model: {bad}")
    return rep


@registry.step("rtl")
def step_rtl(ctx: RunContext, step: Step) -> dict:
    """Simulate the Verilog (Verilator or Icarus) and compare with the golden model."""
    graph = _need_graph(ctx, step)
    res = checks.rtl(graph, ctx.run_dir, ctx.target, int(step.cfg["vectors"]), ctx.seed,
                     step.cfg["simulator"], log=ctx.log, timeout=float(step.cfg["timeout_s"]))
    if res["mismatches"]:
        _write_step_report(ctx, step, res)
        raise MismatchError(f"RTL simulation differs from the golden model: {res['summary']}")
    return res


@registry.step("synth")
def step_synth(ctx: RunContext, step: Step) -> dict:
    """Synthesize the Verilog with Yosys and put the numbers next to the estimate."""
    if ctx.state.synth_report and step.cfg["family"] == "xcup":
        return ctx.state.synth_report  # already synthesized by budget --synth (budget_synth_cfg)
    return synth_graph(_need_graph(ctx, step), ctx.run_dir / "synth", ctx.target, dict(step.cfg),
                       estimate=ctx.state.estimate, log=ctx.log)


@registry.step("symbolic")
def step_symbolic(ctx: RunContext, step: Step) -> dict:
    """Fit one closed-form expression per class (symbolic regression) and lower it to the IR."""
    cfg = without_none(dict(step.cfg))
    graph, rep = run_symbolic(ctx, cfg, ctx.step_dir(step))
    ctx.state.candidates.extend(rep["candidates"])
    graph = preprocess.attach(graph, ctx.data)   # the handoff's input preprocessing
    if cfg["target"] == "logits" and ctx.model is not None:
        rep["teacher_metrics"] = framework_metrics(ctx)
    ctx.graph = graph
    graph.save(ctx.step_dir(step) / "checkpoint")
    rep.update(lowered_report(ctx, graph))
    return rep

