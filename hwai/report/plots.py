"""Figures for report.md: accuracy-vs-cost front, per-layer bit widths, per-layer sparsity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwai.report.summary import layer_table


def make_plots(ctx: Any, folder: Path) -> dict[str, str]:
    """Write the PNGs that apply to this run; return {title: relative path}."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    cands = [c for c in ctx.state.candidates if c.get("lut") is not None and c.get("accuracy") is not None]
    if cands:
        made["Accuracy vs estimated LUTs (each step's model)"] = _pareto(
            cands, folder / "pareto.png", ctx.recipe.budget.get("lut"))
    if (folder / "symbolic_front.png").is_file():  # written by the symbolic step
        made["Symbolic regression: accuracy vs complexity and estimated LUTs"] = str(folder / "symbolic_front.png")
    if ctx.graph is not None:
        rows = [r for r in layer_table(ctx.graph) if r["op"] == "dense"]
        if rows:
            made["Per-layer bit widths"] = _bits(rows, folder / "bit_widths.png")
            made["Per-layer sparsity"] = _sparsity(rows, folder / "sparsity.png")
    return {k: f"plots/{Path(v).name}" for k, v in made.items()}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (cost, accuracy) points: no other point is cheaper and at least as accurate."""
    front, best = [], float("-inf")
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((cost, acc))
            best = acc
    return front


def _pareto(cands: list[dict], path: Path, lut_budget: int | None) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(c["lut"], c["accuracy"]) for c in cands]
    ax.scatter(*zip(*pts), color="tab:blue", zorder=3)
    front = pareto_front(pts)
    ax.step(*zip(*front), where="post", color="tab:orange", ls="--", label="Pareto front")
    for c in cands:
        ax.annotate(c["step"], (c["lut"], c["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if lut_budget:
        ax.axvline(lut_budget, color="tab:red", lw=1, label=f"LUT budget {lut_budget:,}")
    ax.set_xscale("log")
    ax.set_xlabel("estimated LUTs")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _bits(rows: list[dict], path: Path) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r["node"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (key, label) in enumerate((("weight_bits", "weight"), ("accum_bits", "accumulator"),
                                      ("output_bits", "output"))):
        heights, err = bar_spread(rows, key)
        ax.bar(x + (k - 1) * 0.27, heights, width=0.27, label=label, yerr=err, capsize=3 if err is not None else 0)
    ax.set_xticks(x, names)
    ax.set_ylabel("bits")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def bar_spread(rows: list[dict], key: str) -> tuple[list[float], list[list[float]] | None]:
    """Bar heights of ``key`` per layer: a per-weight layer's mean width with its min..max
    as an error bar (its ``weight_type`` only bounds them); the plain width otherwise."""
    if not any(f"{key}_mean" in r for r in rows):
        return [r[key] for r in rows], None
    mean = [r.get(f"{key}_mean", r[key]) for r in rows]
    lo = [m - r.get(f"{key}_min", r[key]) for m, r in zip(mean, rows)]
    hi = [r.get(f"{key}_max", r[key]) - m for m, r in zip(mean, rows)]
    return mean, [lo, hi]


def _sparsity(rows: list[dict], path: Path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([r["node"] for r in rows], [100 * r["sparsity"] for r in rows], color="tab:green")
    ax.set_ylabel("zero weights (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
