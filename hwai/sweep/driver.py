"""The Ray Tune driver: ASHA stops hopeless trials, Optuna's TPE proposes the next ones.

Layout of a sweep folder (default ``runs/<recipe name>-sweep``)::

    .hwai-sweep.json    marker: recipe, its digest, --set overrides, the trial budget (only such
                        folders are resumed)
    recipe.json         the recipe document the trials merge into (overrides applied, file
                        paths made absolute); --resume compares it with the new one
    tune/               Ray Tune's experiment state (``Tuner.restore`` reads it on --resume)
    trials/<id>/        one hwai run folder per trial; trial.json is its result (the ledger)
    sweep.json sweep.md report.html plots/    front, recommendation, every trial

Multi-objective TPE (Optuna's MOTPE through Ray's ``OptunaSearch``) maximises
``objective`` (the physics metric; 0 when the trial breaks the recipe budget, which is how
the budget constrains the search) and minimises ``cost``. ASHA ranks on ``objective`` at
its rungs; ``training_iteration`` counts a trial's reports, one per training epoch and one
per step without epochs (see :mod:`hwai.sweep.trial`).

Ctrl-C: Ray Tune's own SIGINT handler ends ``fit()`` normally after saving the experiment
state (:func:`_fit` tells that apart); ``run_sweep`` then raises KeyboardInterrupt, and
``--resume`` continues the sweep.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hwai.errors import HwaiError, MissingToolError, RecipeError, RunFolderError
from hwai.sweep import results
from hwai.sweep.space import METHOD, Search, default_cpus, parse_search, ray_space, recipe_step_names, trial_document
from hwai.sweep.trial import LEDGER, run_trial, write_ledger

MARKER = ".hwai-sweep.json"
EXPERIMENT = "tune"
MAX_REPORTS = 100_000   # ASHA's max_t: more reports (epochs + steps) than any trial makes


def say(line: str) -> None:
    """The default progress log: stdout, at once (a sweep runs for long; logs are followed live)."""
    print(line, flush=True)


# where Progress writes: the running session's log (a resumed sweep's Progress is the one
# Ray Tune pickled in an earlier session, so it cannot hold this session's log itself)
_SESSION: dict[str, Callable[[str], None]] = {"log": say}


class ClusterError(HwaiError):
    """``--address`` names no reachable Ray cluster (exit 3, like a missing tool)."""

    exit_code = 3


def default_sweep_dir(name: str) -> Path:
    return Path("runs") / f"{name}-sweep"


def run_sweep(recipe_path: Path, sweep_dir: Path | None = None, *, resume: bool = False,
              address: str | None = None, trials: int | None = None, time_limit: float | None = None,
              data: str | None = None, overrides: Mapping[str, Any] | None = None,
              log: Callable[[str], None] | None = None) -> Path:
    """Check everything, then run (or resume) the sweep; returns the sweep folder.

    ``overrides`` (``--set``) are merged into the recipe like ``hwai.api.load``'s; ``log``
    gets the per-trial progress lines and the closing line (default: stdout). Ctrl-C raises
    KeyboardInterrupt once Ray Tune has saved the experiment state (continue with ``resume=True``)."""
    if resume and (trials is not None or time_limit is not None):
        # Ray Tune's Tuner.restore keeps the experiment's num_samples and time_budget_s
        raise RecipeError("--trials/--time-limit cannot change on --resume: Ray Tune resumes a sweep with the "
                          "trials and time limit it started with; start a new sweep with --out for more")
    doc, search, recipe = prepare(recipe_path, trials, time_limit, overrides)
    sweep_dir = sweep_dir or default_sweep_dir(recipe.name)
    _check_folder(sweep_dir, recipe, doc, resume)
    if address:
        check_address(address)
    ray = _import_ray()
    preflight_sweep(doc, search, str(recipe.path), data)
    _open(sweep_dir, recipe, doc, search, resume, overrides, data)
    setup = {"doc": doc, "recipe_path": str(recipe.path), "sweep_dir": str(sweep_dir.resolve()),
             "data": os.path.abspath(data) if data else None}
    log = log or say
    t0 = time.perf_counter()
    if _run_tune(ray, address, setup, search, resume, log):
        raise KeyboardInterrupt(f"{sweep_dir}: interrupted; Ray Tune saved the sweep's state")
    wall = time.perf_counter() - t0
    summary = results.write_sweep(sweep_dir, search, wall_s=wall)
    log(f"[hwai] sweep done in {wall:.0f} s: {summary} -> {sweep_dir}")
    return sweep_dir


def _run_tune(ray: Any, address: str | None, setup: dict, search: Search, resume: bool,
              log: Callable[[str], None]) -> bool:
    """Ray up, the trials, Ray down; True when Ctrl-C ended the sweep."""
    _init_ray(ray, address)
    _SESSION["log"] = log
    try:
        return _fit(_tuner(setup, search, Path(setup["sweep_dir"]), resume))
    finally:
        _SESSION["log"] = say
        ray.shutdown()


def prepare(recipe_path: Path, trials: int | None, time_limit: float | None,
            overrides: Mapping[str, Any] | None = None) -> tuple[dict, Search, Any]:
    """The recipe (``overrides`` merged; its digest stays the file's, which ``--resume``
    compares), the document trials merge into, and the search with --trials/--time-limit."""
    from dataclasses import replace

    from hwai.recipe.schema import load_recipe, merge_overrides, recipe_from_dict, with_absolute_paths

    recipe = load_recipe(recipe_path)
    if overrides:
        merged = recipe_from_dict(merge_overrides(recipe.raw, overrides), recipe.path)
        recipe = replace(merged, digest=recipe.digest)
    doc = with_absolute_paths(recipe)
    search = parse_search(doc, str(recipe.path))
    if trials is not None:
        if trials < 1:
            raise RecipeError(f"--trials {trials}: give at least 1 trial")
        search = replace(search, trials=trials)
    if time_limit is not None:
        if time_limit <= 0:
            raise RecipeError(f"--time-limit {time_limit}: give a positive number of seconds")
        search = replace(search, time_limit_s=time_limit)
    return doc, search, recipe


def _check_folder(sweep_dir: Path, recipe: Any, doc: dict, resume: bool) -> None:
    marker = sweep_dir / MARKER
    if resume:
        if not marker.is_file():
            raise RunFolderError(f"{sweep_dir}: no sweep to resume (no {MARKER}); run without --resume first")
        old = json.loads(marker.read_text())
        if old.get("recipe_sha256") != recipe.digest:
            raise RecipeError(f"{recipe.path}: changed since the sweep in {sweep_dir} started; resume it "
                              "with the same recipe, or start a new sweep with --out")
        _check_overrides(sweep_dir, doc)
    elif sweep_dir.exists() and any(sweep_dir.iterdir()):
        what = "a sweep" if marker.is_file() else "not an hwai sweep"
        raise RunFolderError(f"{sweep_dir}: exists ({what}); continue it with --resume, or choose "
                             "another folder with --out")


def _check_overrides(sweep_dir: Path, doc: dict) -> None:
    """Same recipe file, so a difference from the stored document is a changed ``--set``."""
    old = flat_paths(json.loads((sweep_dir / "recipe.json").read_text()))
    new = flat_paths(json.loads(json.dumps(doc, default=str)))
    changed = [f"{p} {json.dumps(old.get(p, 'unset'))} -> {json.dumps(new.get(p, 'unset'))}"
               for p in sorted(set(old) | set(new)) if old.get(p, "unset") != new.get(p, "unset")]
    if changed:
        raise RecipeError(f"{sweep_dir}: --set differs from the sweep's ({'; '.join(changed)}); resume with "
                          f"the --set flags it started with (its overrides are in {MARKER}), or start a "
                          "new sweep with --out")


def flat_paths(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value of a recipe document, steps by name, the way ``--set`` names them."""
    if prefix == "steps" and isinstance(doc, list):
        doc = {name: (item[name] if isinstance(item, dict) else None) or {}
               for name, item in zip(recipe_step_names({"steps": doc}), doc)}
    if not isinstance(doc, dict):
        return {prefix: doc}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out.update(flat_paths(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_address(address: str) -> None:
    """A TCP connect to the head's GCS port, so a typo fails in seconds, before Ray starts."""
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RecipeError(f"--address {address!r}: expected HOST:PORT of a Ray head (ray start --head "
                          "prints it; default port 6379) or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as err:
        raise ClusterError(f"--address {address}: no Ray head answers there ({err.strerror or err}); "
                           "start one with 'ray start --head --port=6379' (see docs/sweep.md)") from None


def preflight_sweep(doc: dict, search: Search, recipe_path: str, data: str | None) -> None:
    """Tools of every method's recipe, then the data and model once: a missing file or tool
    fails here in one line, not in every trial."""
    from hwai.recipe.preflight import check_tools, checks
    from hwai.recipe.runner import RunContext
    from hwai.recipe.schema import recipe_from_dict
    from hwai.target import Target

    first = {p.path: p.args[0] for p in search.params}
    for method in search.methods:
        recipe = recipe_from_dict(trial_document(doc, search, {**first, METHOD: method}), Path(recipe_path))
        check_tools(recipe, synth=False)
    ctx = RunContext(recipe, Path("."), Target(**recipe.target), log=lambda s: None)
    dict(checks(ctx, data, force=True, resume=False, synth=False))["data"]()


def _import_ray() -> Any:
    try:
        import optuna  # noqa: F401  (the searcher)
        import ray
        from ray import tune  # noqa: F401
    except ImportError as err:
        raise MissingToolError(f"hwai sweep needs Ray Tune and Optuna ({err.name} is missing): "
                               "pip install 'hwai[tune]' (ray[tune]==2.60.0 optuna==5.0.0)") from None
    return ray


def _open(sweep_dir: Path, recipe: Any, doc: dict, search: Search, resume: bool,
          overrides: Mapping[str, Any] | None, data: str | None = None) -> None:
    (sweep_dir / "trials").mkdir(parents=True, exist_ok=True)
    if resume:
        return
    marker = {"recipe": str(recipe.path), "recipe_sha256": recipe.digest, "overrides": dict(overrides or {}),
              "trials": search.trials, "time_limit_s": search.time_limit_s,
              "data": os.path.abspath(data) if data else None,   # --best re-reads the same file
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (sweep_dir / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
    (sweep_dir / "recipe.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")


def _init_ray(ray: Any, address: str | None) -> None:
    # quiet: the driver prints one line per trial; Ray's own tables and logs stay in its files
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")  # experiment state on disk often: resumable
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "0"  # Tune's handler saves the state on Ctrl-C; _fit relies on it
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                          "logging_level": logging.ERROR, "configure_logging": True}
    if address:
        ray.init(address=address, **kw)
    else:
        ray.init(num_cpus=default_cpus(), **kw)


def _tuner(setup: dict, search: Search, sweep_dir: Path, resume: bool) -> Any:
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup),
                                    {"cpu": search.cpus_per_trial})
    storage = str(sweep_dir.resolve())
    # a sweep interrupted before Ray Tune saved any state starts afresh in its folder
    if resume and tune.Tuner.can_restore(os.path.join(storage, EXPERIMENT)):
        return tune.Tuner.restore(os.path.join(storage, EXPERIMENT), trainable=trainable,
                                  resume_unfinished=True, restart_errored=True)
    progress = Progress(setup["sweep_dir"], search.trials, search.metric, search.within)
    return tune.Tuner(trainable, param_space=ray_space(search),
                      tune_config=_tune_config(search, setup["doc"]),
                      run_config=tune.RunConfig(name=EXPERIMENT, storage_path=storage, verbose=0,
                                                callbacks=[progress]))


def _tune_config(search: Search, doc: dict) -> Any:
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    seed = int(doc.get("seed") or 0)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.n_startup_trials)
    searcher = OptunaSearch(metric=["objective", "cost"], mode=["max", "min"], sampler=sampler)
    concurrent = search.max_concurrent or max(1, int(_cpus() // search.cpus_per_trial))
    # A trial ends with its last step, not at max_t (stop_last_trials=False): max_t only bounds
    # the rungs (grace_period x reduction_factor^k reports), so it is set past any trial's reports.
    scheduler = ASHAScheduler(time_attr="training_iteration", metric="objective", mode="max",
                              max_t=MAX_REPORTS, grace_period=min(search.grace_period, MAX_REPORTS),
                              reduction_factor=search.reduction_factor, stop_last_trials=False)
    return tune.TuneConfig(num_samples=search.trials, time_budget_s=search.time_limit_s,
                           search_alg=ConcurrencyLimiter(searcher, max_concurrent=concurrent),
                           scheduler=scheduler)


def _fit(tuner: Any) -> bool:
    """``tuner.fit()``; True when Ctrl-C ended it.

    For the run, Ray Tune replaces the SIGINT handler with one that ends the loop, saves the
    experiment state and lets ``fit()`` return normally, and puts the previous handler back
    only when SIGINT came (``ray.tune.tune._setup_signal_catching``); fit() returns no flag.
    So the previous handler being back is the interrupt. Without one, Tune leaves its own
    handler installed, which would swallow a later Ctrl-C: ours goes back either way. Off the
    main thread Tune installs none (nor can anyone)."""
    ours = signal.getsignal(signal.SIGINT)
    if ours is None or threading.current_thread() is not threading.main_thread():
        tuner.fit()
        return False
    try:
        tuner.fit()
    except Exception:
        if signal.signal(signal.SIGINT, ours) is ours:
            return True  # an error while Tune wound down after Ctrl-C is the interrupt's doing
        raise
    return signal.signal(signal.SIGINT, ours) is ours


def _cpus() -> float:
    """The CPUs Ray sees: this machine's, or the whole cluster's with --address."""
    import ray

    return float(ray.cluster_resources().get("CPU", default_cpus())) if ray.is_initialized() else default_cpus()


def _callback_base() -> type:
    """Ray Tune's Callback; without Ray, a plain base so this module imports and
    ``run_sweep`` can say which package to install (exit 3)."""
    try:
        from ray.tune import Callback
    except ImportError:
        return object
    return Callback


class Progress(_callback_base()):  # type: ignore[misc]
    """One line per finished trial to the session's log (k/N, its numbers, the best inside
    the budget so far); also writes the ledger of trials that ASHA stopped or that raised."""

    def __init__(self, sweep_dir: str, total: int, metric: str, within: float | None) -> None:
        self.sweep_dir, self.total, self.metric, self.within = Path(sweep_dir), total, metric, within

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, dict(trial.last_result or {}))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, {**(trial.last_result or {}), "error": "the trial raised; see Ray's log under tune/",
                             "objective": 0.0, "feasible": False})

    def _finish(self, trial: Any, result: dict) -> None:
        ledger = self.sweep_dir / "trials" / trial.trial_id / LEDGER
        if not ledger.is_file():  # stopped by ASHA (or raised) before its own ledger
            keep = {k: v for k, v in result.items() if k in results.ROW_KEYS}
            keep["stopped_early"] = not result.get("finished", False)
            keep.setdefault("feasible", False)
            write_ledger(ledger, keep)
        _SESSION["log"](results.progress_line(self.sweep_dir, self.total, trial.trial_id, self.metric,
                                                                 self.within))
