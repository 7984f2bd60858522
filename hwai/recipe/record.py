"""The run's input record in ``manifest.json``, and the checks ``--from`` makes against it.

Recorded at the start of a run: the resolved recipe (after API overrides), the data
file (path, size, sha256), seed, max_rows and split. Recorded after each step: the
sha256 of every checkpoint file it wrote. Resuming refuses with one line naming the
first input that changed, instead of continuing from whatever happens to be on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwai.errors import BudgetError, HwaiError, RunFolderError
from hwai.recipe import rundir
from hwai.recipe.schema import Step

# Recipe sections every step depends on; target/budget only matter from these steps on.
ALWAYS = ("model", "data", "seed")
NEEDS_TARGET = ("estimate", "budget", "emit", "csim", "rtl", "synth")


def inputs(ctx: Any) -> dict:
    """What this run is made from (written to manifest.json before the first step)."""
    doc, r = dict(ctx.recipe.raw), ctx.recipe
    data = dict(r.data)
    # validated sections, defaults filled in: an absent key and its default compare equal
    resolved = {"model": r.model, "data": data, "seed": r.seed, "target": r.target, "budget": r.budget,
                "steps": [{s.name: s.cfg} for s in r.steps]}
    return {"recipe": json.loads(json.dumps(resolved, default=str)), "recipe_sha256": rundir.recipe_sha256(doc),
            "data": rundir.data_record(ctx.data.source), "seed": ctx.seed,
            "max_rows": data.get("max_rows"), "split": data.get("split")}


def begin(run_dir: Path, record: dict, resume: bool, first: int, folders: list[str]) -> None:
    """Write the input record; a re-run step invalidates it and everything after it."""
    man = rundir.read_manifest(run_dir) if resume else {}
    later = set(folders[first:])
    man["steps"] = {k: v for k, v in (man.get("steps") or {}).items() if k not in later}
    man.update({"format": rundir.FORMAT, "inputs": record, "recipe_sha256": record["recipe_sha256"],
                "seed": record["seed"]})
    rundir.write_manifest(run_dir, man)


def step_done(run_dir: Path, step: Step, status: str = "done") -> None:
    """Record the checkpoint files ``step`` wrote (and the test vectors, once they exist)."""
    folder = run_dir / "steps" / step.folder
    files = rundir.files_digest(run_dir, folder / "checkpoint")
    if step.name in ("emit", "csim", "rtl") and (run_dir / "vectors").is_dir():
        files.update(rundir.files_digest(run_dir, run_dir / "vectors"))
    man = rundir.read_manifest(run_dir)
    man.setdefault("steps", {})[step.folder] = {"step": step.name, "status": status, "files": files}
    rundir.write_manifest(run_dir, man)


# --- verification for --from ----------------------------------------------------------

def verify_resume(run_dir: Path, record: dict, done: list[Step], ignore_budget: bool) -> bool:
    """Refuse (one line) unless every input of the steps already done is as it was.

    Returns True when a failed budget among them is passed over by ``--ignore-budget``."""
    man = rundir.read_manifest(run_dir)
    old = man.get("inputs")
    if not isinstance(old, dict):
        raise RunFolderError(f"{run_dir}: no input record in {rundir.MANIFEST} (run made by an older hwai "
                             "or stopped before its first step); rerun without --from")
    _check_data(run_dir, old.get("data") or {}, record["data"])
    _check_recipe(run_dir, old["recipe"], record["recipe"], done, _hashed(old.get("data"), record["data"]))
    ignored = check_budget_gate(run_dir, ignore_budget, "resuming",
                                [s.folder for s in done if s.name == "budget"])
    for step in done:
        _check_step(run_dir, (man.get("steps") or {}).get(step.folder), step)
    return ignored


def _hashed(old: dict | None, new: dict) -> bool:
    """Both runs' data files have a recorded content hash (:func:`_check_data` found them equal)."""
    return bool((old or {}).get("sha256") and new.get("sha256"))


def _check_recipe(run_dir: Path, old: dict, new: dict, done: list[Step], same_file: bool = False) -> None:
    """``same_file``: the data file's bytes are verified equal, so the path it was read from
    (data.source: a moved or re-linked copy of the same file) is not an input that changed."""
    old = _in_this_schema(old)
    if same_file:
        old, new = _without_source(old), _without_source(new)
    names = {s.name for s in done}
    keys = list(ALWAYS) + (["target"] if names & set(NEEDS_TARGET) else []) + (["budget"] if "budget" in names else [])
    for key in keys:
        _refuse_diff(run_dir, old.get(key), new.get(key), key)
    n = len(done)
    _refuse_diff(run_dir, (old.get("steps") or [])[:n], (new.get("steps") or [])[:n], "steps")


def _without_source(recipe: dict) -> dict:
    return {**recipe, "data": {k: v for k, v in (recipe.get("data") or {}).items() if k != "source"}}


def _in_this_schema(old: dict) -> dict:
    """The run's recorded recipe read by this hwai's schema, so a field added since the run was
    made takes its default (which keeps the old behaviour) instead of reading as a change.
    A record this schema rejects is compared as it is (and will differ)."""
    from hwai.recipe.schema import recipe_from_dict, without_none
    doc = {"name": "recorded", **without_none({k: old.get(k) for k in ("model", "data", "seed", "target", "budget")}),
           "steps": without_none(old.get("steps") or [])}
    try:
        r = recipe_from_dict(doc)
    except HwaiError:
        return old
    resolved = {"model": r.model, "data": dict(r.data), "seed": r.seed, "target": r.target, "budget": r.budget,
                "steps": [{s.name: s.cfg} for s in r.steps]}
    return json.loads(json.dumps(resolved, default=str))


def _refuse_diff(run_dir: Path, old: Any, new: Any, key: str) -> None:
    diff = rundir.first_difference({key: old}, {key: new})
    if diff:
        field, was, now = diff
        raise RunFolderError(f"{run_dir}: recipe field {field} changed ({was!r} -> {now!r}) since the run's "
                             "earlier steps were made; rerun without --from (or --from the first step it affects)")


def _check_data(run_dir: Path, old: dict, new: dict) -> None:
    keys = ("sha256", "size") if old.get("sha256") and new.get("sha256") else ("source",)
    if any(old.get(k) != new.get(k) for k in keys):
        raise RunFolderError(f"{run_dir}: data file changed ({old.get('path', old.get('source'))}, "
                             f"sha256 {str(old.get('sha256'))[:12]} -> {new.get('path', new.get('source'))}, "
                             f"sha256 {str(new.get('sha256'))[:12]}); rerun without --from")


def _check_step(run_dir: Path, rec: dict | None, step: Step) -> None:
    where = f"steps/{step.folder}"
    if not rec or rec.get("status") not in ("done", "budget_failed"):
        raise RunFolderError(f"{run_dir}: step {step.name} ({where}) did not complete in this run; "
                             f"resume --from {step.name} or earlier")
    for rel, what in rundir.changed_files(run_dir, rec.get("files") or {}):
        raise RunFolderError(f"{run_dir}: {rel} is {what} since step {step.name} wrote it; "
                             f"resume --from {step.name} to remake it")


# --- the budget gate ------------------------------------------------------------------

def failed_budget(run_dir: Path, folders: list[str] | None = None) -> Path | None:
    """The report of a budget step (of ``folders``, default all) that failed with on_fail: error."""
    reps = sorted((run_dir / "steps").glob("*_budget/report.json"))
    for rep in (r for r in reps if folders is None or r.parent.name in folders):
        try:
            doc = json.loads(rep.read_text())
        except (OSError, ValueError):
            continue
        if doc.get("ok") is False and doc.get("on_fail", "error") == "error":
            return rep
    return None


def check_budget_gate(run_dir: Path, ignore_budget: bool, doing: str,
                      folders: list[str] | None = None) -> bool:
    """BudgetError (exit 4) if the run failed its budget, unless ``--ignore-budget``.

    Returns True when a failed budget was explicitly ignored (to be recorded)."""
    rep = failed_budget(run_dir, folders)
    if rep is None:
        return False
    if not ignore_budget:
        raise BudgetError(f"{run_dir}: the run failed its budget ({rep.relative_to(run_dir)}); {doing} it would "
                          "hand off firmware that does not fit; compress harder, or pass --ignore-budget")
    return True


def mark_budget_ignored(run_dir: Path) -> None:
    """Record an explicit --ignore-budget in status.json (reports carry it too)."""
    path = run_dir / "status.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc["budget_ignored"] = True
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def ensure_run(run_dir: Path) -> None:
    """RunFolderError unless ``run_dir`` is an hwai run (offline commands write into it)."""
    if not rundir.is_run(run_dir):
        raise RunFolderError(f"{run_dir}: not an hwai run folder (no {rundir.MARKER}); "
                             "run hwai compress first")

