"""The layer contract, checked from the source with ``ast`` (no import-linter needed).

The layers are read from ``pyproject.toml``'s ``[tool.importlinter]`` contract (one
definition; ``make lint`` runs import-linter on the same table). Every ``import``
counts, at module level, inside functions and under ``TYPE_CHECKING``: a lazy import
defers the cost, not the dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hwai"
# Dissolved by the op registry (issue 9 part 1); delete the entry when it is gone.
ALLOWED_CYCLES = [{"hwai.estimate.cost", "hwai.estimate.rules", "hwai.estimate.rules_expr",
                   "hwai.estimate.rules_mult", "hwai.estimate.tree"}]
HEAVY = ("tensorflow", "torch", "hls4ml", "pyoperon", "matplotlib", "keras", "qkeras", "brevitas", "sympy")


def module_name(path: Path, root: Path) -> str:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imported(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, line) of every absolute import in ``tree``, ``from a import b`` as ``a.b`` too."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """hwai module -> {hwai module it imports: line}."""
    files = {module_name(p, package.parent): p for p in package.rglob("*.py")}
    edges: dict[str, dict[str, int]] = {m: {} for m in files}
    for mod, path in files.items():
        for target, line in imported(ast.parse(path.read_text())):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != mod and not mod.startswith(target + "."):
                edges[mod].setdefault(target, line)
    return edges


def cycles(edges: dict[str, set[str]] | dict[str, dict[str, int]]) -> list[set[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def contract_layers() -> tuple[list[list[str]], set[str]]:
    """(layers top to bottom, each a list of sibling packages; optional ones) from pyproject."""
    tomllib = pytest.importorskip("tomllib")
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in doc["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    layers, optional = [], set()
    for row in contract["layers"]:
        names = [n.strip() for n in row.split("|")]
        for i, n in enumerate(names):
            if n.startswith("(") and n.endswith(")"):
                names[i] = n[1:-1]
                optional.add(names[i])
        layers.append(names)
    return layers, optional


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_import_goes_down_the_layers() -> None:
    layers, _ = contract_layers()
    rank = {name: i for i, row in enumerate(layers) for name in row}
    bad = []
    for mod, targets in import_graph().items():
        for target, line in targets.items():
            a, b = top(mod), top(target)
            if a == b or not a or not b:
                continue
            if rank[a] >= rank[b]:   # same rank = independent siblings; a smaller rank is higher
                bad.append(f"{mod}:{line} imports {target} (layer {a} may not import {b})")
    assert not bad, "layer contract broken:\n" + "\n".join(sorted(bad))


def test_every_package_has_a_layer() -> None:
    layers, optional = contract_layers()
    placed = {n for row in layers for n in row}
    present = {top(m) for m in import_graph()} - {"", "__main__"}
    assert not present - placed, f"place {sorted(present - placed)} in pyproject.toml's layers"
    assert not (placed - present - optional), f"layers name missing packages {sorted(placed - present - optional)}"


def test_no_import_cycles_between_modules_or_packages() -> None:
    edges = import_graph()
    found = [c for c in cycles(edges) if c not in ALLOWED_CYCLES]
    assert not found, f"import cycles: {found}"
    packages: dict[str, set[str]] = {}
    for mod, targets in edges.items():
        packages.setdefault(top(mod), set()).update(top(t) for t in targets if top(t) != top(mod))
    assert not cycles(packages), f"package cycles: {cycles(packages)}"


def test_checker_sees_function_level_imports_and_cycles(tmp_path: Path) -> None:
    """The checks above can fail: a lazy import inside a function is an edge, a loop a cycle."""
    pkg = tmp_path / "hwai"
    (pkg / "ir").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ir" / "__init__.py").write_text("")
    (pkg / "ir" / "a.py").write_text("def f():\n    from hwai.ir import b\n")
    (pkg / "ir" / "b.py").write_text("import hwai.ir.a\n")
    edges = import_graph(pkg)
    assert edges["hwai.ir.a"] == {"hwai.ir.b": 2}
    assert cycles(edges) == [{"hwai.ir.a", "hwai.ir.b"}]


def test_importing_the_cli_and_the_recipe_engine_stays_light() -> None:
    """Heavy frameworks load when a step needs them, not when hwai (or a recipe) is imported."""
    code = ("import sys, hwai.cli, hwai.api, hwai.recipe.runner, hwai.recipe.offline, hwai.recipe.catalog; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
