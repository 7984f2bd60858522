"""One sweep trial: the normal recipe engine on the merged recipe, reported step by step.

The trial's run folder is ``<sweep>/trials/<trial id>/``, an ordinary hwai run. Ray gets the
newest physics metric after every training epoch (validation accuracy, through the engines'
epoch listeners) and after each step that has no epochs (symbolic; lower, with the
firmware's metric), so ASHA can stop a hopeless trial in the middle of a training step,
``grace_period`` reports after its start.
``trial.json`` is the trial's ledger: a trial restarted after a driver crash that finds it
reports the stored result instead of training again (no finished trial is repeated).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hwai.engines.core import epoch_listener
from hwai.errors import HwaiError
from hwai.sweep.space import METHOD, METHOD_STEPS, Search, decode, parse_search, trial_document

LEDGER = "trial.json"
# steps whose end is reported (a training step only when it reported no epochs): the costly
# ones. The IR steps after lower take seconds, and a stop there would throw away a trial
# that is about to report its result.
REPORTED = METHOD_STEPS + ("lower",)


def run_trial(config: dict, setup: Mapping[str, Any]) -> None:
    """The Ray Tune function trainable (``tune.with_parameters(run_trial, setup=...)``)."""
    from ray import tune

    run_dir = Path(setup["sweep_dir"]) / "trials" / tune.get_context().get_trial_id()
    ledger = run_dir / LEDGER
    if ledger.is_file():
        tune.report(json.loads(ledger.read_text()))
        return
    result = execute(config, setup, run_dir, tune.report)
    write_ledger(ledger, result)
    tune.report(result)


def write_ledger(path: Path, result: dict) -> None:
    """Once: the first writer wins (the trial itself, or the driver when ASHA stopped it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x") as f:
            f.write(json.dumps(_finite(result), indent=1, sort_keys=True, default=str) + "\n")
    except FileExistsError:
        pass


def _finite(result: dict) -> dict:
    """Strict JSON: a cost not known yet (inf for Ray) is null in the ledger."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in result.items()}


def execute(config: Mapping[str, Any], setup: Mapping[str, Any], run_dir: Path,
            report: Callable[[dict], None]) -> dict:
    """Run one point into ``run_dir``; the final result (a failed recipe is infeasible, not fatal)."""
    from hwai.recipe.runner import run_recipe
    from hwai.recipe.schema import recipe_from_dict

    search = parse_search(setup["doc"], setup["recipe_path"])
    values = decode(search, config)
    method = values.get(METHOD, next(iter(search.methods)))
    base = {"method": method, "settings": used_settings(search, method, values),
            "run_dir": f"trials/{run_dir.name}", "node": _node_id()}
    steps = StepReporter(run_dir, search, base, report)
    try:
        recipe = recipe_from_dict(trial_document(setup["doc"], search, values), Path(setup["recipe_path"]))
        with epoch_listener(steps.epoch):
            run_recipe(recipe, run_dir, data_path=setup.get("data"), force=True, log=steps)
    except HwaiError as err:
        run_dir.mkdir(parents=True, exist_ok=True)  # for the ledger, when the run never started
        return {**base, **steps.last, "objective": 0.0, "feasible": False, "error": str(err), "finished": True}
    finally:
        steps.log.close()
    return {**base, **final_result(run_dir, search), "finished": True}


def _node_id() -> str | None:
    """The Ray node the trial ran on (a cluster sweep shows its spread)."""
    try:
        import ray
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except ImportError:
        return None


def used_settings(search: Search, method: str, values: Mapping[str, Any]) -> dict:
    """The sampled values this method's recipe uses (a prune setting means nothing without prune)."""
    skip = set(METHOD_STEPS) - set(search.methods[method])
    return {k: v for k, v in values.items()
            if k != METHOD and not (k.startswith("steps.") and k.split(".")[1] in skip)}


class StepReporter:
    """The run's log callback: quiet on the terminal (lines go to ``trials/<id>.log``); one
    ``tune.report`` per training epoch (:meth:`epoch`) and one per finished step that had
    no epochs, read from the step's ``report.json``."""

    def __init__(self, run_dir: Path, search: Search, base: dict, report: Callable[[dict], None]) -> None:
        self.run_dir, self.search, self.base, self.report = run_dir, search, base, report
        self.seen: set[str] = set()
        self.last: dict = {"physics": 0.0, "cost": None}
        self.epochs_in_step = 0   # epoch reports since the last step ended
        self.log = run_dir.with_suffix(".log").open("a")  # beside the run: its folder is hwai's

    def __call__(self, line: str) -> None:
        self.log.write(line + "\n")
        self.log.flush()
        for path in sorted(self.run_dir.glob("steps/*/report.json")):
            if path.parent.name not in self.seen:
                self.seen.add(path.parent.name)
                rep = json.loads(path.read_text())
                if rep.get("step") in REPORTED:
                    self._step(rep)

    def epoch(self, tag: str, epoch: int, epochs: int, val_accuracy: float) -> None:
        """The engines' epoch listener. Validation accuracy is the physics while a model trains
        when the metric is accuracy; another metric keeps its last step's value, and the
        report still advances ASHA's clock (one report per epoch in every trial)."""
        if self.search.metric == "accuracy":
            self.last["physics"] = val_accuracy
        self.epochs_in_step += 1
        self._report({"step": tag, "epoch": epoch, "epochs": epochs})

    def _step(self, rep: dict) -> None:
        physics = physics_of(rep.get("firmware_metrics") or rep.get("metrics"), self.search.metric)
        cost = step_cost(rep, self.search)
        self.last = {"physics": physics if physics is not None else self.last["physics"],
                     "cost": cost if cost is not None else self.last["cost"]}
        reported, self.epochs_in_step = self.epochs_in_step, 0
        if not reported:  # a step with epochs was reported by them
            self._report({"step": rep.get("step")})

    def _report(self, where: dict) -> None:
        # ASHA ranks physics alone: an intermediate model is no verdict on the budget (a pruned
        # model still has float weights until quantize shrinks it); the final result applies it
        result = {**self.base, **self.last, **where, "finished": False, "objective": self.last["physics"]}
        if result["cost"] is None:
            result["cost"] = float("inf")  # Optuna needs a number; the ledger writes null
        self.report(result)


def physics_of(metrics: Mapping[str, Any] | None, metric: str) -> float | None:
    """accuracy, macro_auc or rejection.<class> from a metrics dict (None when absent)."""
    if not metrics:
        return None
    if metric.startswith("rejection."):
        value = (metrics.get("rejection") or {}).get(metric.split(".", 1)[1])
    else:
        value = metrics.get(metric)
    return None if value is None else float(value)


def cost_of(total: Mapping[str, Any] | None, search: Search) -> float | None:
    """The cost objective from an estimate's (or synthesis') totals."""
    if not total or total.get("lut") is None:
        return None
    if search.cost == "latency_cycles":
        return float(total.get("latency_cycles") or 0)
    dsp = float(total.get("dsp") or 0) if search.cost.endswith("+dsp") else 0.0
    return float(total["lut"]) + search.dsp_lut * dsp


def step_cost(rep: Mapping[str, Any], search: Search) -> float | None:
    if rep.get("step") == "estimate":
        return cost_of(rep.get("total"), search)
    cands = rep.get("candidates") or []
    return cost_of(cands[-1], search) if cands else None


def final_result(run_dir: Path, search: Search) -> dict:
    """Physics, cost and budget verdict of a finished trial, from its ``report.json``."""
    head = json.loads((run_dir / "report.json").read_text())
    physics = physics_of(head.get("firmware_metrics"), search.metric)
    total = (head.get("synth") or {}).get("total") if search.cost.startswith("synth") else head.get("estimate")
    cost = cost_of(total, search)
    feasible = (head.get("budget") or {}).get("verdict", "pass") == "pass" and physics is not None
    est = head.get("estimate") or {}
    return {"physics": physics or 0.0, "cost": cost if cost is not None else float("inf"),
            "objective": (physics or 0.0) if feasible else 0.0, "feasible": feasible,
            "accuracy": head.get("firmware_accuracy"), "lut": est.get("lut"), "dsp": est.get("dsp"),
            "n_events": (head.get("firmware_metrics") or {}).get("n_events"),
            "latency_cycles": est.get("latency_cycles"), "wall_s": head.get("wall_s")}
