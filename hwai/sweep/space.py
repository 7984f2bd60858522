"""The recipe's ``search:`` block: what ``hwai sweep`` varies, optimises and stops.

    search:
      trials: 40                 # Ray Tune samples
      time_limit_s: 2700         # the whole sweep (Ray's time_budget_s)
      objective: {metric: accuracy, cost: lut+dsp}
      methods:                   # which training steps run: a categorical over step lists
        none: [train]
        prune+quantize: [train, prune, quantize]
      space:                     # dotted recipe paths, into step configs too
        steps.prune.sparsity: {uniform: [0.5, 0.9]}
        steps.quantize.bits: {int: [3, 8]}
        model.hidden: {choice: [[32, 16], [64, 32, 32]]}

Every path is checked against the recipe schema (with "did you mean"), every endpoint and
choice against that field's type and bounds, and every method's recipe is validated, so a
contradictory space fails before Ray starts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hwai.errors import RecipeError
from hwai.recipe.schema import (
    MODEL_STEPS,
    RECIPE,
    SEARCH,
    STEPS,
    Field,
    merge_overrides,
    suggest,
    validate_mapping,
    validate_value,
)

KINDS = ("choice", "uniform", "loguniform", "int")
METHOD_STEPS = MODEL_STEPS + ("symbolic",)        # the steps a method chooses among
FIRMWARE_ONLY = ("emit", "csim", "rtl", "synth")   # left to `hwai sweep DIR --best`
# physics metrics read off the firmware (golden model) metrics; rejection.<class> too
METRICS = ("accuracy", "macro_auc")
METHOD = "method"   # the categorical's key in a trial's config

@dataclass(frozen=True)
class Param:
    path: str
    kind: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Search:
    trials: int
    time_limit_s: float | None
    max_concurrent: int | None
    cpus_per_trial: float
    metric: str
    cost: str
    dsp_lut: int
    grace_period: int
    reduction_factor: int
    n_startup_trials: int
    methods: Mapping[str, tuple[str, ...]]
    params: tuple[Param, ...]
    # method -> step -> the settings only this method puts on the recipe's step
    method_settings: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    within: float | None = None   # None: one standard error of the best accuracy (results.tolerance)


def parse_search(doc: Mapping[str, Any], ctx: str = "<recipe>") -> Search:
    """Validate a whole recipe document's ``search:`` block against its own recipe."""
    block = doc.get("search")
    if not isinstance(block, dict):
        raise RecipeError(f"{ctx}: search: hwai sweep needs a 'search:' mapping in the recipe "
                          "(space, methods, objective, trials); see docs/sweep.md")
    s = validate_mapping(block, SEARCH, ctx, "search")
    names = recipe_step_names(doc)
    methods, method_settings = _methods(s["methods"], names, ctx)
    params = tuple(_param(path, spec, doc, ctx) for path, spec in s["space"].items())
    _check_space(params, methods, ctx)
    _check_objective(s["objective"], names, doc, ctx)
    out = Search(s["trials"], s["time_limit_s"], s["max_concurrent"], s["cpus_per_trial"],
                 s["objective"]["metric"], s["objective"]["cost"], s["objective"]["dsp_lut"],
                 s["scheduler"]["grace_period"], s["scheduler"]["reduction_factor"],
                 s["searcher"]["n_startup_trials"], methods, params, method_settings,
                 s["objective"].get("within"))
    _check_variants(out, doc, ctx)
    return out


def recipe_step_names(doc: Mapping[str, Any]) -> list[str]:
    out = []
    for item in doc.get("steps") or []:
        out.append(item if isinstance(item, str) else next(iter(item)) if isinstance(item, dict) else str(item))
    return out


def _methods(raw: Mapping[str, list], names: list[str], ctx: str
             ) -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, dict]]]:
    """(method -> its step names, method -> {step: the settings this method alone sets})."""
    if not raw:  # no choice of method: the recipe's own training steps
        return {"recipe": tuple(n for n in names if n in METHOD_STEPS)}, {}
    steps_of: dict[str, tuple[str, ...]] = {}
    settings: dict[str, dict[str, dict]] = {}
    for m, items in raw.items():
        parsed = [_method_step(item, names, f"{ctx}: search.methods.{m}[{k}]") for k, item in enumerate(items)]
        steps_of[m] = tuple(step for step, _ in parsed)
        if len(set(steps_of[m])) < len(parsed):
            raise RecipeError(f"{ctx}: search.methods.{m}: a step is listed twice ({', '.join(steps_of[m])})")
        settings[m] = {step: cfg for step, cfg in parsed if cfg}
    return steps_of, settings


def _method_step(item: Any, names: list[str], where: str) -> tuple[str, dict]:
    """One entry of a method's list: ``prune`` or ``{quantize: {method: hgq, epochs: 60}}``."""
    if isinstance(item, dict):
        if len(item) != 1 or not isinstance(next(iter(item.values())) or {}, dict):
            raise RecipeError(f"{where}: write a step name or {{step: {{setting: value}}}}, got {item!r}")
        (step, cfg), = item.items()
    else:
        step, cfg = item, {}
    if step not in METHOD_STEPS:
        raise RecipeError(f"{where}: {step!r} is not a training step "
                          f"({', '.join(METHOD_STEPS)}){suggest(str(step), METHOD_STEPS)}")
    if step not in names:
        raise RecipeError(f"{where}: the recipe has no {step!r} step; add it to steps: "
                          "(its options there are the method's settings)")
    return step, dict(cfg or {})


# --- the space -------------------------------------------------------------------

def _param(path: str, spec: Any, doc: Mapping[str, Any], ctx: str) -> Param:
    where = f"{ctx}: search.space.{path}"
    fld = field_at(path, recipe_step_names(doc), where)
    if not isinstance(spec, dict) or len(spec) != 1:
        raise RecipeError(f"{where}: write one of {{choice: [a, b]}}, {{uniform: [lo, hi]}}, "
                          "{loguniform: [lo, hi]}, {int: [lo, hi]}")
    (kind, args), = spec.items()
    if kind not in KINDS:
        raise RecipeError(f"{where}: unknown kind {kind!r}{suggest(str(kind), KINDS)} ({', '.join(KINDS)})")
    if not isinstance(args, list) or not args:
        raise RecipeError(f"{where}.{kind}: expected a non-empty list, got {args!r}")
    for k, v in enumerate(args):
        validate_value(copy.deepcopy(v), fld, ctx, f"search.space.{path}.{kind}[{k}]")
    if kind != "choice":
        _check_range(kind, args, where)
    return Param(path, kind, tuple(args))


def _check_range(kind: str, args: list, where: str) -> None:
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise RecipeError(f"{where}.{kind}: expected [low, high] numbers, got {args!r}")
    lo, hi = args
    if lo >= hi:
        raise RecipeError(f"{where}.{kind}: low {lo} is not below high {hi}; an empty range")
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise RecipeError(f"{where}.int: expected integer bounds, got {args!r}")
    if kind == "loguniform" and lo <= 0:
        raise RecipeError(f"{where}.loguniform: low {lo} must be above 0")


def field_at(path: str, step_names: list[str], where: str) -> Field:
    """The schema Field a dotted recipe path names; unknown parts get a 'did you mean'."""
    parts = path.split(".")
    if parts[0] == "steps":
        if len(parts) < 3:
            raise RecipeError(f"{where}: a step field is steps.<step>.<field>, e.g. steps.prune.sparsity")
        if parts[1] not in step_names:
            raise RecipeError(f"{where}: the recipe has no {parts[1]!r} step"
                              f"{suggest(parts[1], step_names)} (steps: {', '.join(step_names)})")
        return _walk(STEPS[parts[1]], parts[2:], ".".join(parts[:2]), where)
    top = {k: v for k, v in RECIPE.items() if k in ("seed", "model", "data", "target", "budget")}
    return _walk(top, parts, "", where)


def _walk(spec: Mapping[str, Field], parts: list[str], done: str, where: str) -> Field:
    key, rest = parts[0], parts[1:]
    if key not in spec:
        known = ", ".join(spec) or "none"
        raise RecipeError(f"{where}: unknown field {key!r} under {done or 'the recipe'}"
                          f"{suggest(key, spec)} (known: {known})")
    fld, done = spec[key], f"{done}.{key}" if done else key
    if not rest:
        return fld
    if fld.fields is not None:
        return _walk(fld.fields, rest, done, where)
    if fld.values is not None and fld.values.fields is not None and len(rest) > 1:
        return _walk(fld.values.fields, rest[1:], f"{done}.{rest[0]}", where)
    raise RecipeError(f"{where}: {done} is a single value; it has no field {rest[0]!r}")


def _check_space(params: tuple[Param, ...], methods: Mapping[str, tuple[str, ...]], ctx: str) -> None:
    searched = [p for p in params if p.kind != "choice" or len(p.args) > 1]
    if not searched and len(methods) < 2:
        raise RecipeError(f"{ctx}: search: the space is empty; give search.space entries with more "
                          "than one value, or two or more search.methods")
    run_by_some = {s for steps in methods.values() for s in steps}
    for p in params:
        parts = p.path.split(".")
        if parts[0] == "steps" and parts[1] in METHOD_STEPS and parts[1] not in run_by_some:
            raise RecipeError(f"{ctx}: search.space.{p.path}: no method in search.methods runs "
                              f"{parts[1]!r}, so this setting would never be used")


def _check_objective(obj: Mapping[str, Any], names: list[str], doc: Mapping[str, Any], ctx: str) -> None:
    metric = obj["metric"]
    classes = (doc.get("data") or {}).get("class_names")
    if metric.startswith("rejection."):
        cls = metric.split(".", 1)[1]
        if classes and cls not in classes:
            raise RecipeError(f"{ctx}: search.objective.metric: no class {cls!r} in data.class_names"
                              f"{suggest(cls, classes)}")
    elif metric not in METRICS:
        raise RecipeError(f"{ctx}: search.objective.metric: {metric!r} is not a physics metric hwai "
                          f"reports{suggest(metric, METRICS)} (accuracy, macro_auc, rejection.<class>)")
    producer = "synth" if obj["cost"].startswith("synth") else "estimate"  # the step that writes it
    if producer not in names:
        raise RecipeError(f"{ctx}: search.objective.cost: {obj['cost']!r} is produced by a {producer!r} "
                          f"step, which this recipe does not run; add '- {producer}' to steps")


def _check_variants(search: Search, doc: Mapping[str, Any], ctx: str) -> None:
    """Every method's recipe at the space's first values must be a valid recipe."""
    from pathlib import Path

    from hwai.recipe.schema import recipe_from_dict

    first = {p.path: p.args[0] for p in search.params}
    for m in search.methods:
        try:
            recipe_from_dict(trial_document(doc, search, {**first, METHOD: m}), Path(ctx))
        except RecipeError as err:
            raise RecipeError(f"{ctx}: search.methods.{m}: its recipe is not valid: "
                              f"{str(err).removeprefix(ctx + ': ')}") from None


# --- a trial's recipe ------------------------------------------------------------

def trial_document(doc: Mapping[str, Any], search: Search, config: Mapping[str, Any],
                   firmware: bool = False) -> dict:
    """The recipe document of one point: the method's steps, the sampled values set.

    Trials stop at the budget (emit, C-sim, RTL and synthesis are for ``--best``, with
    ``firmware=True``); a budget failure is recorded, not raised, so the sweep learns from it.
    """
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k != "search"}
    method = config.get(METHOD, next(iter(search.methods)))
    keep = search.methods[method]
    drop = set(METHOD_STEPS) - set(keep)
    if "symbolic" in keep:
        drop.add("lower")  # the expressions are the IR
    if not firmware:
        drop |= set(FIRMWARE_ONLY) - ({"synth"} if search.cost.startswith("synth") else set())
        out["budget"] = {**(out.get("budget") or {}), "on_fail": "warn"}
    out["steps"] = [s for s in out.get("steps") or [] if recipe_step_names({"steps": [s]})[0] not in drop]
    for step, settings in (search.method_settings.get(method) or {}).items():
        cfg = _step_cfg(out, step)
        cfg.update(merge_overrides(cfg, copy.deepcopy(settings)))
    for path, value in config.items():
        if path != METHOD:
            set_path(out, path, value)
    return out


def set_path(doc: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    if parts[0] == "steps":
        node = _step_cfg(doc, parts[1])
        parts = parts[2:]
    else:
        node = doc
    for key in parts[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node[key]
    node[parts[-1]] = _plain(value)


def _step_cfg(doc: dict, name: str) -> dict:
    for i, item in enumerate(doc["steps"]):
        if item == name:
            doc["steps"][i] = {name: {}}
            return doc["steps"][i][name]
        if isinstance(item, dict) and name in item:
            if item[name] is None:
                item[name] = {}
            return item[name]
    return {}  # the method does not run this step: the value is unused


def _plain(value: Any) -> Any:
    """numpy scalars (Optuna's samples) -> Python values, so YAML and validation accept them."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def ray_space(search: Search) -> dict:
    """The Ray Tune param_space: one sampler per path, plus the method categorical."""
    from ray import tune

    space: dict[str, Any] = {}
    if len(search.methods) > 1:
        space[METHOD] = tune.choice(list(search.methods))
    for p in search.params:
        space[p.path] = _sampler(tune, p)
    return space


def _sampler(tune: Any, p: Param) -> Any:
    if p.kind == "choice":
        # lists (layer widths) are not hashable categories for Optuna: choose an index's value
        return tune.choice([_key(v) for v in p.args])
    if p.kind == "int":
        return tune.randint(p.args[0], p.args[1] + 1)   # inclusive high, like the YAML reads
    return getattr(tune, p.kind)(*p.args)


def _key(v: Any) -> Any:
    return "x".join(map(str, v)) if isinstance(v, list) else v


def decode(search: Search, config: Mapping[str, Any]) -> dict:
    """A sampled config back to recipe values (list choices were sampled by their key)."""
    out = dict(config)
    for p in search.params:
        if p.kind == "choice" and p.path in out:
            out[p.path] = next((v for v in p.args if _key(v) == out[p.path]), out[p.path])
    return out


def default_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

