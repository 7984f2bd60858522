"""Every recipe step: what it does, when it runs and its options (``hwai steps`` lists this).

Importing :mod:`hwai.recipe.steps` registers each step with :mod:`hwai.recipe.registry`;
this module is the one place that guarantees that has happened before the table is read.
"""

from __future__ import annotations

from hwai.recipe import registry
from hwai.recipe import steps as _implementations  # noqa: F401  (registers every step)
from hwai.recipe.registry import StepInfo
from hwai.recipe.schema import STEPS


def steps() -> dict[str, StepInfo]:
    """name -> :class:`StepInfo` (description, kind, option fields, implementation), schema order."""
    table = registry.registered()
    missing = [name for name in STEPS if name not in table]
    if missing:
        raise RuntimeError(f"recipe steps declared in the schema but not implemented: {', '.join(missing)}")
    return table
