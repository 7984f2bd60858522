"""Every check that needs no training, run before anything is deleted or written.

``hwai compress`` runs them all and stops at the first error; ``hwai validate``
runs them all and prints one line per check. Cheap checks (output folder, tools)
come before the slow one (loading the data and building/importing the model).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hwai.errors import HwaiError, RunFolderError, require_tool
from hwai.recipe import rundir, steps
from hwai.recipe.context import RunContext
from hwai.recipe.schema import Recipe
from hwai.sim import gcc
from hwai.sim.rtl import INSTALL
from hwai.symbolic.fit import check_pysr
from hwai.synth.yosys import yosys_command


@dataclass(frozen=True)
class Check:
    """One preflight line: ``error`` is None when the check passed."""

    name: str
    detail: str
    error: HwaiError | None = None

    def line(self) -> str:
        return f"{self.name:<8} {'ok' if self.error is None else 'error'}: {self.error or self.detail}"


# --- output folder ---------------------------------------------------------------------

def check_output(run_dir: Path, force: bool, resume: bool) -> str:
    """Raise RunFolderError unless ``run_dir`` can be used as asked; say what will happen."""
    try:
        run_dir.exists()
    except OSError as err:  # e.g. a name longer than the file system allows
        raise RunFolderError(f"--out {str(run_dir)[:120]}: {err.strerror}; choose another --out") from None
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"--out {run_dir}: is a file, not a folder; choose another --out")
    if not run_dir.exists() or rundir.is_empty_dir(run_dir):
        if resume:
            raise RunFolderError(f"{run_dir}: no hwai run to resume with --from; run without --from first")
        _check_writable(run_dir)
        return f"{run_dir} (new)"
    if not rundir.is_run(run_dir):
        verb = "resume into" if resume else ("delete with --force" if force else "write into")
        raise RunFolderError(f"{run_dir}: not an hwai run folder (no {rundir.MARKER}); refusing to {verb} "
                             "it; choose another --out")
    rundir.check_unlocked(run_dir)
    _check_writable(run_dir)
    if resume:
        return f"{run_dir} (resume)"
    if not force:
        raise RunFolderError(f"{run_dir}: run folder exists; pass --force to overwrite it, "
                             "--from STEP to resume, or --out DIR for a new one")
    return f"{run_dir} (an existing hwai run: compress replaces it only with --force)"


def _check_writable(run_dir: Path) -> None:
    probe = run_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise RunFolderError(f"--out {run_dir}: {probe} is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {run_dir}: {probe} is not writable; choose another --out")


# --- tools ---------------------------------------------------------------------------

def required_tools(recipe: Recipe, synth: bool) -> list[tuple[str, Callable[[], object]]]:
    """(tool, check) for each external tool a step of ``recipe`` will call."""
    need: list[tuple[str, Callable[[], object]]] = []
    names = recipe.step_names()
    if "csim" in names:
        need += [("g++", gcc.compiler), ("ap_types", gcc.ap_types_dir)]
    for s in recipe.steps:
        if s.name == "rtl":
            sim = s.cfg["simulator"]
            need.append((sim, lambda sim=sim: require_tool(sim, INSTALL[sim])))
        if s.name == "symbolic" and s.cfg.get("engine") == "pysr":
            need.append(("julia", check_pysr))
    budget_synth = any(s.name == "budget" and s.cfg.get("synth") for s in recipe.steps)
    yosys_search = any(s.name == "quantize" and (s.cfg.get("search") or {}).get("cost") == "yosys"
                       for s in recipe.steps)
    if "synth" in names or yosys_search or ((synth or budget_synth) and "budget" in names):
        need.append(("yosys", yosys_command))
    return need


def check_tools(recipe: Recipe, synth: bool) -> str:
    need = required_tools(recipe, synth)
    for _, fn in need:
        fn()
    return ", ".join(name for name, _ in need) or "none needed"


# --- all together --------------------------------------------------------------------

def checks(ctx: RunContext, data_path: str | None, force: bool, resume: bool, synth: bool) -> list[tuple[str, Callable[[], str]]]:
    """The ordered (name, check) list; each check returns a detail or raises HwaiError."""
    def data_and_model() -> str:
        steps.setup(ctx, data_path)
        return f"{len(ctx.data.x_train)}/{len(ctx.data.x_val)}/{len(ctx.data.x_test)} rows, model built"

    return [("output", lambda: check_output(ctx.run_dir, force, resume)),
            ("tools", lambda: check_tools(ctx.recipe, synth)),
            ("data", data_and_model)]


def preflight(ctx: RunContext, data_path: str | None, *, force: bool, resume: bool, synth: bool) -> None:
    """Run every check; the first error is raised (nothing has been written yet)."""
    for _, fn in checks(ctx, data_path, force, resume, synth):
        fn()


def validate(ctx: RunContext, data_path: str | None, *, force: bool = False, resume: bool = False,
             synth: bool = False) -> list[Check]:
    """Run every check and collect one :class:`Check` per line (``hwai validate``)."""
    out = [Check("recipe", f"{ctx.recipe.path}: {len(ctx.recipe.steps)} steps "
                 f"({', '.join(ctx.recipe.step_names())})")]
    for name, fn in checks(ctx, data_path, force, resume, synth):
        try:
            out.append(Check(name, fn()))
        except HwaiError as err:
            out.append(Check(name, "", err))
    return out
