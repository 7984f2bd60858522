"""Symbolic regression engines: pyoperon recovers a simple law; pysr fails clearly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hwai.errors import MissingToolError, RecipeError
from hwai.symbolic import fit as fitmod
from hwai.symbolic.fit import complexity, fit_expressions, make_targets, parse_operon

pytest.importorskip("sympy")


def test_pyoperon_recovers_product_plus_constant():
    pytest.importorskip("pyoperon")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = (X[:, 0] * X[:, 1] + 0.5)[:, None]
    t0 = time.perf_counter()
    fronts = fit_expressions(X, Y, {"operators": ["add", "sub", "mul"], "generations": 20,
                                    "population_size": 200, "max_complexity": 12, "time_limit_s": 15},
                             seed=1, X_val=X[:100], Y_val=Y[:100])
    assert time.perf_counter() - t0 < 20
    best = min(fronts[0], key=lambda c: c.val_loss)
    assert best.val_loss < 1e-6 and best.complexity <= 9
    assert {str(s) for s in best.expr.free_symbols} == {"x0", "x1"}
    losses = [c.train_loss for c in fronts[0]]
    assert losses == sorted(losses, reverse=True)  # a Pareto front: bigger is better


def test_feature_subset_keeps_original_indices():
    pytest.importorskip("pyoperon")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    Y = (2 * X[:, 3] - X[:, 2])[:, None]
    fronts = fit_expressions(X, Y, {"features": [2, 3], "generations": 10, "population_size": 100,
                                    "time_limit_s": 5}, seed=0)
    best = min(fronts[0], key=lambda c: c.train_loss)
    assert best.train_loss < 1e-6
    assert {str(s) for s in best.expr.free_symbols} <= {"x2", "x3"}


def test_pysr_without_julia_raises_clear_error(monkeypatch):
    monkeypatch.setattr(fitmod.shutil, "which", lambda name: None)
    with pytest.raises(MissingToolError, match="Julia.*engine: pyoperon"):
        fit_expressions(np.zeros((10, 2)), np.zeros((10, 1)), {"engine": "pysr"})


def test_bad_config_is_a_recipe_error():
    with pytest.raises(RecipeError, match="operators"):
        fit_expressions(np.zeros((10, 2)), np.zeros((10, 1)), {"operators": ["add", "frobnicate"]})
    with pytest.raises(RecipeError, match="features"):
        fit_expressions(np.zeros((10, 2)), np.zeros((10, 1)), {"features": [5]})


def test_targets_and_parsing():
    y = np.array([0, 2, 1])
    np.testing.assert_array_equal(make_targets(y, 3, target="labels"), np.eye(3)[y])
    logits = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(make_targets(y, 3, logits), logits)
    with pytest.raises(RecipeError):
        make_targets(y, 3, None, target="logits")
    e = parse_operon("(0.5 + square(x1)) * aq(x0, x1)")
    import sympy

    x0, x1 = sympy.symbols("x0 x1")
    assert sympy.simplify(e - (0.5 + x1 ** 2) * x0 / sympy.sqrt(1 + x1 ** 2)) == 0
    assert complexity(x0 * x1 + 1) == 5
