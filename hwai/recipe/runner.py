"""Runs a validated recipe: one run folder, one checkpoint + report per step, resumable.

Layout of a run folder::

    runs/<name>/
      status.json            running | complete | partial | failed (+ error)
      report.json report.md  headline figures (only when the run completed or stopped at --to)
      manifest.json          recipe hash, package versions, seed, output digests
      steps/NN_<step>/       report.json, timing, checkpoint/ (model or IR graph)
      hls/ native/ verilog/  emitted projects
      plots/                 PNG figures used by report.md
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hwai.errors import HwaiError, RecipeError
from hwai.recipe.schema import Recipe, Step
from hwai.target import Target

RUN_MARKERS = ("status.json", "manifest.json")


@dataclass
class RunContext:
    """Everything a step may read or update while a recipe runs."""

    recipe: Recipe
    run_dir: Path
    target: Target
    engine: Any = None
    data: Any = None
    model: Any = None
    graph: Any = None
    reports: dict[str, dict] = field(default_factory=dict)   # step folder -> its report
    state: dict[str, Any] = field(default_factory=dict)      # estimate, vectors, emitted, candidates
    log: Callable[[str], None] = print

    @property
    def seed(self) -> int:
        return self.recipe.seed

    def step_dir(self, step: Step) -> Path:
        return self.run_dir / "steps" / step.folder


def default_run_dir(recipe: Recipe) -> Path:
    return Path("runs") / recipe.name


def prepare_run_dir(run_dir: Path, force: bool, resume: bool) -> None:
    """Refuse to clobber an existing run (or any non-run folder) unless told to."""
    if run_dir.exists() and any(run_dir.iterdir()):
        is_run = any((run_dir / m).exists() for m in RUN_MARKERS)
        if resume:
            if not is_run:
                raise HwaiError(f"{run_dir}: --from needs an existing hwai run folder")
            for stale in ("report.json", "report.md"):
                (run_dir / stale).unlink(missing_ok=True)
            return
        if not force:
            raise HwaiError(f"{run_dir}: run folder exists; pass --force to overwrite it, "
                            "--from STEP to resume, or --out DIR for a new one")
        if not is_run:
            raise HwaiError(f"{run_dir}: not an hwai run folder; refusing to delete it with --force")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


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
               log: Callable[[str], None] = print) -> RunContext:
    """Run (or resume) ``recipe`` into ``run_dir``; mark the folder failed on any error."""
    from hwai.recipe import steps as step_impls
    from hwai.report.writer import write_reports

    done, todo = select_steps(recipe, from_step, to_step)
    ctx = RunContext(recipe, run_dir, Target(**recipe.target), log=log)
    ctx.state["confirm_with_synth"] = synth
    t_run = time.perf_counter()
    # Data, engine and model first: a bad path, key or unsupported layer fails here,
    # before anything is written (or an old run folder is replaced).
    step_impls.setup(ctx, data_path)
    prepare_run_dir(run_dir, force, resume=bool(from_step))
    write_status(run_dir, "running", steps=[s.folder for s in todo])
    if recipe.path.is_file():  # keep the exact recipe with the run (emit/csim/synth re-read it)
        shutil.copyfile(recipe.path, run_dir / "recipe.yaml")
    try:
        step_impls.restore(ctx, done)
        for k, step in enumerate(todo, 1):
            _run_step(ctx, step, k, len(todo), step_impls.STEP_FUNCS[step.name])
        complete = len(done) + len(todo) == len(recipe.steps)
        wall = time.perf_counter() - t_run
        write_reports(ctx, wall_s=wall, complete=complete)
        write_status(run_dir, "complete" if complete else "partial", wall_s=round(wall, 1))
        log(f"[hwai] {'done' if complete else 'stopped after ' + todo[-1].name} in {wall:.1f} s -> {run_dir}")
    except BaseException as err:
        msg = str(err) if isinstance(err, HwaiError) else f"{type(err).__name__}: {err}"
        write_status(run_dir, "failed", error=msg, wall_s=round(time.perf_counter() - t_run, 1))
        for stale in ("report.json", "report.md"):
            (run_dir / stale).unlink(missing_ok=True)
        raise
    return ctx


def _run_step(ctx: RunContext, step: Step, k: int, n: int, fn: Callable[[RunContext, Step], dict]) -> None:
    folder = ctx.step_dir(step)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ctx.log(f"[hwai] [{k}/{n}] {step.name}")
    t0 = time.perf_counter()
    report = fn(ctx, step)
    report = {"step": step.name, **report, "seconds": round(time.perf_counter() - t0, 2)}
    ctx.reports[step.folder] = report
    (folder / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True, default=_json) + "\n")
    ctx.log(f"[hwai] [{k}/{n}] {step.name} done in {report['seconds']:.1f} s")


def _json(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)
