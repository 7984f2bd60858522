"""Runs a validated recipe: one run folder, one checkpoint + report per step, resumable.

Layout of a run folder::

    runs/<name>/
      .hwai-run.json         marker: only folders holding it are runs (--force deletes nothing else)
      .hwai-lock.json        PID/host/start of the writer while a run is in progress
      status.json            running | complete | partial | failed (+ error)
      report.json report.md  headline figures (only when the run completed or stopped at --to)
      manifest.json          inputs (resolved recipe, data sha256, seed), checkpoint digests,
                             package versions, output digests
      steps/NN_<step>/       report.json, timing, checkpoint/ (model or IR graph)
      hls/ native/ verilog/  emitted projects
      plots/                 PNG figures used by report.md
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hwai.errors import BudgetError, HwaiError, RecipeError
from hwai.recipe import record, registry, rundir
from hwai.recipe import steps as step_impls  # importing it registers every step
from hwai.recipe.context import RunContext, RunState
from hwai.recipe.preflight import preflight
from hwai.recipe.registry import StepFn
from hwai.recipe.schema import Recipe, Step, load_recipe, with_absolute_paths
from hwai.report.writer import write_reports
from hwai.target import Target

__all__ = ["RunContext", "RunState", "default_run_dir", "run_recipe", "select_steps"]


def default_run_dir(recipe: Recipe) -> Path:
    """``runs/<name>``; a name that is not one folder name would write outside ``runs/``."""
    name = recipe.name
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise RecipeError(f"{recipe.path}: name {name!r} must be a plain folder name (no path separators): "
                          "runs go to runs/<name>; use --out DIR for another place")
    return Path("runs") / name


def open_run_dir(run_dir: Path, force: bool, resume: bool) -> None:
    """Make, lock and (with --force, after preflight) clear the run folder; mark it as ours."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.acquire_lock(run_dir)
    if resume:
        for stale in ("report.json", "report.md", "report.html"):
            (run_dir / stale).unlink(missing_ok=True)
    elif force and rundir.is_run(run_dir):
        rundir.clear_run(run_dir)
    rundir.write_marker(run_dir)


def save_recipe(recipe: Recipe, run_dir: Path) -> None:
    """The run's own recipe: the file as written, or the merged document when overrides
    (``hwai.api.compress(..., overrides=...)``) changed it, so emit/csim/synth re-read
    the values the run was really made with."""
    if recipe.path.is_file() and load_recipe(recipe.path).raw == recipe.raw:
        shutil.copyfile(recipe.path, run_dir / "recipe.yaml")  # as written, comments kept
        return
    doc = with_absolute_paths(recipe)  # the merged copy lives in the run folder: paths must not move
    text = yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False)
    (run_dir / "recipe.yaml").write_text(f"# resolved recipe of this run ({recipe.path} + overrides)\n{text}")


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    doc = {"status": status, **extra}
    (run_dir / "status.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def select_steps(recipe: Recipe, from_step: str | None, to_step: str | None) -> tuple[list[Step], list[Step]]:
    """Split the recipe into (already done, to run) for --from/--to."""
    names = recipe.step_names()
    start = _index(names, from_step, "--from", recipe) if from_step else 0
    stop = _index(names, to_step, "--to", recipe) + 1 if to_step else len(names)
    if stop <= start:
        raise RecipeError(f"--to {to_step} comes before --from {from_step}")
    return list(recipe.steps[:start]), list(recipe.steps[start:stop])


def _index(names: list[str], step: str, flag: str, recipe: Recipe) -> int:
    if step.isdigit() and 1 <= int(step) <= len(names):
        return int(step) - 1
    if step not in names:
        raise RecipeError(f"{recipe.path}: {flag} {step!r}: not a step of this recipe "
                          f"({', '.join(names)})")
    return names.index(step)


def run_recipe(recipe: Recipe, run_dir: Path, *, data_path: str | None = None, force: bool = False,
               from_step: str | None = None, to_step: str | None = None, synth: bool = False,
               ignore_budget: bool = False, log: Callable[[str], None] = print) -> RunContext:
    """Run (or resume) ``recipe`` into ``run_dir``; mark the folder failed on any error."""
    done, todo = select_steps(recipe, from_step, to_step)
    ctx = RunContext(recipe, run_dir, Target(**recipe.target), log=log,
                     state=RunState(confirm_with_synth=synth, ignore_budget=ignore_budget))
    # Output folder, tools, data and model first: a bad path, a missing tool or an
    # unsupported layer fails here, before anything is written or an old run replaced.
    preflight(ctx, data_path, force=force, resume=bool(from_step), synth=synth)
    inputs = record.inputs(ctx)
    if from_step:
        ctx.state.budget_ignored = record.verify_resume(run_dir, inputs, done, ignore_budget)
    open_run_dir(run_dir, force, resume=bool(from_step))
    try:
        _run_locked(ctx, done, todo, inputs)
    finally:
        rundir.release_lock(run_dir)
    return ctx


def _run_locked(ctx: RunContext, done: list[Step], todo: list[Step], inputs: dict) -> None:
    """Steps and reports; on any error the run is marked failed and keeps no report."""
    t_run = time.perf_counter()
    try:
        _execute(ctx, done, todo, inputs)
        complete = len(done) + len(todo) == len(ctx.recipe.steps)
        _finish(ctx, complete, time.perf_counter() - t_run)
        ctx.log(f"[hwai] {'done' if complete else 'stopped after ' + todo[-1].name} in "
                f"{time.perf_counter() - t_run:.1f} s -> {ctx.run_dir}")
    except BaseException as err:
        msg = str(err) if isinstance(err, HwaiError) else f"{type(err).__name__}: {err}"
        write_status(ctx.run_dir, "failed", error=msg, wall_s=round(time.perf_counter() - t_run, 1))
        for stale in ("report.json", "report.md", "report.html"):
            (ctx.run_dir / stale).unlink(missing_ok=True)
        raise


def _execute(ctx: RunContext, done: list[Step], todo: list[Step], inputs: dict) -> None:
    write_status(ctx.run_dir, "running", steps=[s.folder for s in todo])
    save_recipe(ctx.recipe, ctx.run_dir)
    record.begin(ctx.run_dir, inputs, bool(done), len(done), [s.folder for s in ctx.recipe.steps])
    if ctx.state.budget_ignored:
        ctx.log("[hwai] WARNING: the budget failed; continuing because of --ignore-budget (recorded)")
    step_impls.restore(ctx, done)
    for k, step in enumerate(todo, 1):
        _run_step(ctx, step, k, len(todo), registry.get(step.name))


def _finish(ctx: RunContext, complete: bool, wall: float) -> None:
    kinds = {name: info.kind for name, info in registry.registered().items()}
    write_reports(ctx, wall_s=wall, complete=complete, kinds=kinds)
    extra = {"budget_ignored": True} if ctx.state.budget_ignored else {}
    write_status(ctx.run_dir, "complete" if complete else "partial", wall_s=round(wall, 1), **extra)


def _run_step(ctx: RunContext, step: Step, k: int, n: int, fn: StepFn) -> None:
    folder = ctx.step_dir(step)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ctx.log(f"[hwai] [{k}/{n}] {step.name}")
    t0 = time.perf_counter()
    try:
        report = fn(ctx, step)
    except BudgetError:
        record.step_done(ctx.run_dir, step, status="budget_failed")  # resumable only with --ignore-budget
        raise
    report = {"step": step.name, **report, "seconds": round(time.perf_counter() - t0, 2)}
    ctx.reports[step.folder] = report
    (folder / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True, default=_json) + "\n")
    record.step_done(ctx.run_dir, step)
    ctx.log(f"[hwai] [{k}/{n}] {step.name} done in {report['seconds']:.1f} s")


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
