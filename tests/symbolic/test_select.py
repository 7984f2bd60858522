"""Joint models, the Pareto front, the select rule and the plot."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import BudgetError
from hwai.ir.types import FixedType
from hwai.symbolic.fit import Candidate
from hwai.symbolic.select import graph_cost, joint_models, pareto, plot_front, select
from hwai.target import Target

sympy = pytest.importorskip("sympy")


def _fronts():
    x0, x1 = sympy.symbols("x0 x1")
    c = lambda e, o, loss: Candidate(e, sum(1 for _ in sympy.preorder_traversal(e)), loss, loss, o, "t")  # noqa: E731
    return [[c(x0, 0, 1.0), c(x0 - x1, 0, 0.5), c(x0 * x1 - x1 + sympy.sin(x0), 0, 0.1)],
            [c(-x0, 1, 1.0), c(x1 - x0, 1, 0.5)]]


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 1] > X[:, 0]).astype(int)
    return X, y


def test_joint_models_select_and_plot(tmp_path):
    X, y = _data()
    models = joint_models(_fronts(), FixedType(12, 4), 2, {"lut": {"size": 64}}, X, y)
    assert [m.level for m in models] == sorted(m.level for m in models)
    best = select(models, {"metric": "accuracy"})
    assert best.accuracy >= 0.99                 # x1 - x0 vs x0 - x1 separates the classes
    cheap = select(models, {"max_complexity": 3})
    assert cheap.level <= 3 and all(sum(1 for _ in sympy.preorder_traversal(e)) <= 3 for e in cheap.exprs)
    assert all(m.cost_method for m in models)
    with pytest.raises(BudgetError, match="no candidate"):
        select(models, {"max_lut": 0})
    front = pareto(models)
    assert front and all(m in models for m in front)
    png = plot_front(models, best, tmp_path / "front.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_expr_cost_counts_tables_and_products():
    from hwai.symbolic.to_ir import expressions_to_graph

    x0, x1 = sympy.symbols("x0 x1")
    small = expressions_to_graph([x0 + x1], FixedType(12, 4), 2)
    big = expressions_to_graph([sympy.exp(x0) * x1 + x0 * x1], FixedType(12, 4), 2, {"lut": {"size": 1024}})
    lut_s, dsp_s, cyc_s, method = graph_cost(small, Target())
    lut_b, dsp_b, cyc_b, _ = graph_cost(big, Target())
    assert lut_s > 0 and "analytic" in method
    assert lut_b + 100 * dsp_b > lut_s and cyc_b > cyc_s and dsp_b >= 1
