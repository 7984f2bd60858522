"""The one table of recipe steps: each step registers itself with :func:`step`.

A step's *name* and its options are declared once, in :data:`hwai.recipe.schema.STEPS`
(the schema validates a recipe without importing any step's code); its *implementation*
registers here with the ``@step("name")`` decorator, and registering a name the schema
does not declare (or twice) is an error at import. The runner looks implementations up
with :func:`get`; ``hwai steps`` lists :func:`hwai.recipe.catalog.steps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from hwai.recipe.schema import IR_PRODUCERS, IR_STEPS, MODEL_STEPS, STEPS, Field, Step

if TYPE_CHECKING:
    from hwai.recipe.context import RunContext

StepFn = Callable[["RunContext", Step], dict]


@dataclass(frozen=True)
class StepInfo:
    """One recipe step: what it does, when it may run and the options it takes."""

    name: str
    description: str          # first line of the implementation's docstring
    kind: str                 # "model" | "ir-producer" | "ir" | "other"
    fields: Mapping[str, Field]
    run: StepFn


_TABLE: dict[str, StepInfo] = {}


def step(name: str, doc: object = None) -> Callable[[StepFn], StepFn]:
    """Decorator: ``fn(ctx, step) -> report`` implements the recipe step ``name``; its
    description is the first docstring line of ``doc`` (default: of ``fn``)."""
    if name not in STEPS:
        raise ValueError(f"step {name!r} is not declared in hwai.recipe.schema.STEPS")
    if name in _TABLE:
        raise ValueError(f"step {name!r} is registered twice ({_TABLE[name].run.__qualname__})")

    def register(fn: StepFn) -> StepFn:
        text = (doc if doc is not None else fn).__doc__
        _TABLE[name] = StepInfo(name, _first_line(text), kind_of(name), STEPS[name], fn)
        return fn
    return register


def kind_of(name: str) -> str:
    if name in MODEL_STEPS:
        return "model"
    if name in IR_PRODUCERS:
        return "ir-producer"
    return "ir" if name in IR_STEPS else "other"


def get(name: str) -> StepFn:
    return _TABLE[name].run


def registered() -> dict[str, StepInfo]:
    """Registered steps in the schema's order (complete once the step modules are imported)."""
    return {n: _TABLE[n] for n in STEPS if n in _TABLE}


def _first_line(doc: str | None) -> str:
    text = (doc or "").strip()
    return text.splitlines()[0].replace("``", "") if text else ""
