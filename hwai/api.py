"""Python API for notebooks and scripts: the same engine as ``hwai compress``.

>>> import hwai.api as hw
>>> run = hw.compress("recipes/jet_tagging.yaml", data="../shared/data/jets_hlf.npz",
...                   overrides={"data": {"max_rows": 20000}})
>>> run.report["firmware_accuracy"], run.report["csim"]["mismatches"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwai.ir.graph import Graph
from hwai.recipe.offline import ir_checkpoint
from hwai.recipe.runner import default_run_dir, run_recipe
from hwai.recipe.schema import Recipe, load_recipe, merge_overrides, recipe_from_dict


@dataclass(frozen=True)
class Run:
    """A finished run folder and its headline report."""

    run_dir: Path
    report: dict
    graph: Graph | None

    def markdown(self) -> str:
        return (self.run_dir / "report.md").read_text()

    def plots(self) -> list[Path]:
        return sorted((self.run_dir / "plots").glob("*.png"))


def load(recipe: str | Path, overrides: dict | None = None) -> Recipe:
    """Load a recipe, deep-merging ``overrides`` (e.g. fewer epochs in a notebook) before validation."""
    base = load_recipe(recipe)
    if not overrides:
        return base
    return recipe_from_dict(merge_overrides(base.raw, overrides), base.path)


def compress(recipe: str | Path | Recipe, data: str | None = None, out: str | Path | None = None,
             force: bool = True, overrides: dict | None = None, **kw: Any) -> Run:
    """Run a recipe; returns the run folder, its report and the final IR graph.

    ``overrides`` are merged into the recipe and the merged recipe is the run's
    ``recipe.yaml`` (so ``hwai emit RUN`` later uses them). ``force=True`` replaces only
    a folder that is an hwai run; ``ignore_budget=True`` (in ``kw``) hands off firmware
    although the budget failed, and the report says so."""
    rec = recipe if isinstance(recipe, Recipe) else load(recipe, overrides)
    run_dir = Path(out) if out else default_run_dir(rec)
    ctx = run_recipe(rec, run_dir, data_path=data, force=force, **kw)
    return Run(run_dir, json.loads((run_dir / "report.json").read_text()), ctx.graph)


def open_run(run_dir: str | Path) -> Run:
    """Open an existing run folder."""
    run_dir = Path(run_dir)
    ckpt = ir_checkpoint(run_dir)
    graph = Graph.load(ckpt) if ckpt is not None else None
    return Run(run_dir, json.loads((run_dir / "report.json").read_text()), graph)


def lower_torch(model: Any, input_shapes: Any = None, *, input_type: Any = None, name: str = "model") -> Graph:
    """A torch/Brevitas ``nn.Module`` as a typed IR graph (the golden model), as the recipe's
    lower step builds it: a chain through the chain frontend, any other module traced with
    torch.fx (branches, several inputs and outputs, per-particle Linear and pooling).
    ``input_shapes``: per-sample shape of each ``forward`` argument, e.g. ``[(32, 8)]``;
    ``input_type``: a :class:`hwai.ir.types.FixedType` overriding every input's type.
    Convolutions: the graph's inputs are channels-last; an input a conv reads directly (channels-first
    torch data) is listed in ``graph.meta['channels_first_inputs']``, and
    :func:`hwai.frontends.torch_conv.ir_inputs` turns the torch model's arrays into the golden model's."""
    from hwai.frontends.torch_fx import lower_torch as lower

    return lower(model, name=name, input_type=input_type, input_shapes=input_shapes)
