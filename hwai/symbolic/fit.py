"""Symbolic regression: one Pareto set of closed-form expressions per output column.

The FPGA recipe follows Tsoi et al. 2023 ("Symbolic Regression on FPGAs for Fast
Machine Learning Inference", arXiv:2305.04099): fit one expression per class to the
teacher network's logits (or to one-hot labels), trade accuracy against expression
size, then compile the chosen expressions to fixed-point HLS.

Engines: ``pyoperon`` (default; C++ GP with NSGA-II on (R², length), Burlacu et al.
2020) and ``pysr`` (used only when a ``julia`` executable is present, since PySR
downloads a Julia runtime otherwise).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwai.errors import MissingToolError, RecipeError

# pyoperon primitive names, indexed by hwai operator names (identical where possible).
_OPERON = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "exp": "exp", "log": "log",
           "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "sqrt": "sqrt",
           "square": "square", "abs": "abs", "logabs": "logabs", "sqrtabs": "sqrtabs",
           "aq": "aq", "pow": "pow", "cbrt": "cbrt", "sinh": "sinh", "cosh": "cosh"}
_PYSR_BINARY = ("add", "sub", "mul", "div", "pow")
_PYSR_NAMES = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}


@dataclass(frozen=True)
class Candidate:
    """One expression on an output's Pareto front."""

    expr: Any                 # sympy expression over x0..x{n-1} (original feature indices)
    complexity: int           # number of nodes of the sympy expression tree
    train_loss: float         # mean squared error on the fit rows
    val_loss: float           # mean squared error on validation rows (nan when none given)
    output: int               # output column (class) index
    engine: str

    def to_dict(self) -> dict:
        return {"expr": str(self.expr), "complexity": self.complexity,
                "train_loss": self.train_loss, "val_loss": self.val_loss,
                "output": self.output, "engine": self.engine}


def make_targets(y: np.ndarray, n_classes: int, logits: np.ndarray | None = None,
                 target: str = "logits") -> np.ndarray:
    """Regression targets: teacher logits (default, as in Tsoi et al.) or one-hot labels."""
    if target == "labels" or logits is None:
        if target == "logits":
            raise RecipeError("symbolic.target: logits needs a teacher model from an earlier step; "
                              "use target: labels")
        return np.eye(n_classes, dtype=np.float64)[np.asarray(y, dtype=np.int64)]
    return np.asarray(logits, dtype=np.float64)


def fit_expressions(X: np.ndarray, Y: np.ndarray, cfg: dict, seed: int = 0,
                    X_val: np.ndarray | None = None,
                    Y_val: np.ndarray | None = None) -> list[list[Candidate]]:
    """Fit every column of ``Y`` (N, n_out) from ``X`` (N, n_features); returns the fronts."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    features = _features(cfg, X.shape[1])
    rows = _subsample(len(X), cfg.get("max_rows"), seed)
    engine = cfg.get("engine", "pyoperon")
    fit_one = {"pyoperon": _fit_operon, "pysr": _fit_pysr}.get(engine)
    if fit_one is None:
        raise RecipeError(f"symbolic.engine: {engine!r} is not one of pyoperon, pysr")
    fronts = []
    for j in range(Y.shape[1]):
        exprs = fit_one(X[rows][:, features], Y[rows, j], features, cfg, seed + j, Y.shape[1])
        fronts.append(_candidates(exprs, X[rows], Y[rows, j], X_val,
                                  None if Y_val is None else Y_val[:, j], j, engine))
    return fronts


def _features(cfg: dict, n: int) -> list[int]:
    feats = cfg.get("features") or list(range(n))
    bad = [f for f in feats if not isinstance(f, (int, np.integer)) or not 0 <= f < n]
    if bad:
        raise RecipeError(f"symbolic.features: {bad} are not column indices 0..{n - 1}")
    return [int(f) for f in feats]


def _subsample(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    if not max_rows or n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, int(max_rows), replace=False))


def _candidates(exprs: Sequence[Any], X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None,
                y_val: np.ndarray | None, j: int, engine: str) -> list[Candidate]:
    """Deduplicate, score (MSE) and sort by complexity; keep only the Pareto-optimal ones."""
    seen, out = set(), []
    for e in exprs:
        if str(e) in seen:
            continue
        seen.add(str(e))
        tr = mse(e, X, y)
        va = mse(e, X_val, y_val) if X_val is not None else float("nan")
        out.append(Candidate(e, complexity(e), tr, va, j, engine))
    out.sort(key=lambda c: (c.complexity, c.train_loss))
    front, best = [], math.inf
    for c in out:
        if c.train_loss < best:
            front.append(c)
            best = c.train_loss
    return front


def complexity(e: Any) -> int:
    """Nodes of the expression tree (PySR's default complexity: every op, variable, constant)."""
    import sympy

    return sum(1 for _ in sympy.preorder_traversal(e))


def evaluate(e: Any, X: np.ndarray) -> np.ndarray:
    """Float evaluation of a sympy expression over columns x0..x{n-1} of ``X``."""
    import sympy

    xs = sympy.symbols(f"x0:{X.shape[1]}")
    with np.errstate(all="ignore"):
        v = sympy.lambdify([xs], e, "numpy")(np.asarray(X, dtype=np.float64).T)
    return np.broadcast_to(np.asarray(v, dtype=np.float64), (len(X),)).copy()


def mse(e: Any, X: np.ndarray, y: np.ndarray) -> float:
    err = evaluate(e, X) - y
    return float(np.mean(err * err)) if np.all(np.isfinite(err)) else float("inf")


# --- pyoperon --------------------------------------------------------------------

def _fit_operon(X: np.ndarray, y: np.ndarray, features: list[int], cfg: dict, seed: int,
                n_out: int) -> list[Any]:
    from pyoperon.sklearn import SymbolicRegressor

    ops = cfg.get("operators", ["add", "sub", "mul"])
    unknown = [o for o in ops if o not in _OPERON]
    if unknown:
        raise RecipeError(f"symbolic.operators: {unknown} unknown to pyoperon "
                          f"(known: {', '.join(sorted(_OPERON))})")
    max_len = int(cfg.get("max_length") or cfg.get("max_complexity", 20))
    reg = SymbolicRegressor(
        allowed_symbols=",".join([_OPERON[o] for o in ops] + ["constant", "variable"]),
        objectives=["r2", "length"],          # NSGA-II: the whole accuracy/size front
        max_length=max_len, initialization_max_length=min(10, max_len),
        generations=int(cfg.get("generations", cfg.get("iterations", 50))),
        population_size=int(cfg.get("population_size", 500)),
        max_evaluations=int(cfg.get("max_evaluations", 10**7)),
        optimizer_iterations=int(cfg.get("optimizer_iterations", 5)),
        time_limit=max(1, int(math.ceil(float(cfg.get("time_limit_s", 60)) / n_out))),
        n_threads=1, random_state=int(seed))
    reg.fit(X, y)
    names = [f"x{f}" for f in features]
    return [parse_operon(reg.get_model_string(m["tree"], 8, names=names)) for m in reg.pareto_front_]


def parse_operon(s: str) -> Any:
    """pyoperon infix -> sympy (its protected/extra primitives spelled out)."""
    import sympy

    local = {"square": lambda a: a ** 2, "aq": lambda a, b: a / sympy.sqrt(1 + b ** 2),
             "logabs": lambda a: sympy.log(sympy.Abs(a)), "sqrtabs": lambda a: sympy.sqrt(sympy.Abs(a)),
             "cbrt": lambda a: sympy.cbrt(a)}
    return sympy.sympify(s, locals=local)


# --- PySR (optional) -----------------------------------------------------------------

def check_pysr() -> None:
    """MissingToolError unless Julia and the pysr package are there (also run at preflight)."""
    if shutil.which("julia") is None:
        raise MissingToolError("pysr engine needs a Julia runtime (no 'julia' on PATH; PySR would "
                               "download one at first use); use engine: pyoperon")
    import importlib.util

    if importlib.util.find_spec("pysr") is None:
        raise MissingToolError("pysr engine needs the pysr package: pip install pysr; "
                               "or use engine: pyoperon")


def _fit_pysr(X: np.ndarray, y: np.ndarray, features: list[int], cfg: dict, seed: int,
              n_out: int) -> list[Any]:
    check_pysr()
    from pysr import PySRRegressor
    ops = cfg.get("operators", ["add", "sub", "mul"])
    reg = PySRRegressor(
        binary_operators=[_PYSR_NAMES[o] for o in ops if o in _PYSR_BINARY],
        unary_operators=[o for o in ops if o not in _PYSR_BINARY],
        maxsize=int(cfg.get("max_complexity", 20)),
        niterations=int(cfg.get("iterations", cfg.get("generations", 40))),
        population_size=int(cfg.get("population_size", 33)),
        timeout_in_seconds=float(cfg.get("time_limit_s", 60)) / n_out,
        random_state=int(seed), deterministic=True, parallelism="serial", progress=False)
    reg.fit(X, y, variable_names=[f"x{f}" for f in features])
    return list(reg.equations_["sympy_format"])
