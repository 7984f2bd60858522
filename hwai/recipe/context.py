"""The typed state a recipe run carries from step to step.

:class:`RunContext` is what every step reads and updates: the recipe, the run folder,
the framework engine/model/data and the IR. :class:`RunState` replaces a string-keyed
dict: each value one step leaves for a later one (the estimate the budget step reuses,
the test vectors every backend is checked with, what emit wrote, ...) is a typed field,
so a misspelt key is an AttributeError instead of a silent ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hwai.recipe.schema import Recipe, Step
from hwai.target import Target

if TYPE_CHECKING:  # annotations only: importing these at run time would load numpy/estimators early
    import numpy as np

    from hwai.data.dataset import Dataset
    from hwai.engines.base import Engine
    from hwai.estimate.cost import Estimate
    from hwai.ir.graph import Graph


@dataclass
class RunState:
    """Values one step leaves for later ones (not checkpointed; rebuilt by ``restore``)."""

    confirm_with_synth: bool = False             # --synth: the budget step re-checks with Yosys
    ignore_budget: bool = False                  # --ignore-budget was given
    budget_ignored: bool = False                 # ... and a failed budget was really ignored
    estimate: Estimate | None = None             # the estimate step's result (budget reuses it)
    synth_report: dict | None = None             # budget --synth already synthesized: synth reuses it
    vectors: np.ndarray | None = None            # input codes every backend is checked with
    emitted: dict[str, dict] = field(default_factory=dict)    # backend -> emit record
    candidates: list[dict] = field(default_factory=list)      # accuracy-vs-cost points (plots)
    teacher: Any = None                          # distill: the teacher framework model


@dataclass
class RunContext:
    """Everything a step may read or update while a recipe runs."""

    recipe: Recipe
    run_dir: Path
    target: Target
    engine: Engine | None = None
    data: Dataset | None = None
    model: Any = None                            # a framework model (Keras or torch): no common type
    graph: Graph | None = None
    reports: dict[str, dict] = field(default_factory=dict)   # step folder -> its report
    state: RunState = field(default_factory=RunState)
    log: Callable[[str], None] = print

    @property
    def seed(self) -> int:
        return self.recipe.seed

    def step_dir(self, step: Step) -> Path:
        return self.run_dir / "steps" / step.folder
