"""The ``expr`` op: golden semantics, intervals, persistence, and C++ bit-exactness."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hwai.ir.expr import evaluate_node, interval_node, lut_index, op_counts, validate_node
from hwai.ir.graph import Graph, IRError, Node, Tensor
from hwai.ir.interp import run
from hwai.ir.types import FixedType
from hwai.passes.precision import intervals

sympy = pytest.importorskip("sympy")

TIN = FixedType(14, 4, True, "RND", "SAT")   # inputs in [-8, 8), 10 fractional bits


def _exprs():
    x0, x1, x2 = sympy.symbols("x0:3")
    return [x0 * x1 + 0.5,                                   # polynomial: no table
            sympy.exp(x0 / 2) - 0.3 * x2 ** 2,                # exp LUT, constant product, square
            sympy.sin(x1) * sympy.tanh(x2) - x0,              # two LUTs multiplied
            sympy.log(x0 ** 2 + 1) / (x1 ** 2 + 1),           # log and 1/x LUTs
            -x2]


def _graph(cap=None, size=1024):
    from hwai.symbolic.to_ir import expressions_to_graph

    cfg = {"lut": {"size": size, "range": [-8, 8]}}
    if cap is not None:
        cfg["precision"] = cap
    return expressions_to_graph(_exprs(), TIN, 3, cfg)


def _vectors(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    real = TIN.from_float(rng.uniform(-3, 3, (n, 3)))
    wide = rng.integers(TIN.qmin, TIN.qmax + 1, (n, 3))
    ext = np.array([[a, b, c] for a in (TIN.qmin, 0, TIN.qmax) for b in (TIN.qmin, -1, TIN.qmax)
                    for c in (TIN.qmin, 1, TIN.qmax)])
    return np.concatenate([real, wide, ext])


def test_evaluate_matches_float_reference_within_bound():
    g = _graph(size=1024)
    x = np.random.default_rng(1).uniform(-2, 2, (2000, 3))
    q = TIN.from_float(x)
    got = g.tensor("y").type.to_float(run(g, q)["y"])
    xs = TIN.to_float(q)
    f = sympy.lambdify(sympy.symbols("x0:3"), _exprs(), "numpy")
    ref = np.stack([np.broadcast_to(v, (len(x),)) for v in f(*xs.T)], axis=1)
    err = np.abs(got - ref).max(axis=0)
    lsb = g.tensor("y").type.lsb
    # Bounds: polynomial outputs lose only truncation LSBs of the 18-bit intermediates;
    # table outputs add half a table bin (16/1024) times the function's slope.
    assert err[0] <= 4 * lsb and err[4] <= lsb
    assert err[1] <= 0.5 * np.exp(1.0) * 16 / 1024 + 0.02
    assert err[2] <= 2 * 16 / 1024 + 0.01
    assert err[3] <= 2 * 16 / 1024 + 0.02


def test_lut_tables_deterministic_and_as_defined():
    a, b = _graph(), _graph()
    for ta, tb in zip(a.node("sr").attrs["tables"], b.node("sr").attrs["tables"]):
        np.testing.assert_array_equal(ta, tb)
    node = a.node("sr")
    lut = next(i for i in node.attrs["program"] if i["op"] == "lut" and i["func"] == "sin")
    table, t = node.attrs["tables"][lut["table"]], lut["type"]
    step = 1 << lut["shift"]
    mid = (lut["lo"] + np.arange(len(table)) * step + (step - 1) / 2) * 2.0 ** -TIN.frac
    np.testing.assert_array_equal(table, t.from_float(np.sin(mid)))


def _lut_graph():
    """x -> table[clamp((q - lo) >> shift)] with a hand-made 4-entry table."""
    tin, tout = FixedType(8, 4), FixedType(12, 8)
    prog = [{"op": "input", "index": 0},
            {"op": "lut", "args": [0], "func": "id", "table": 0, "lo": -16, "shift": 3,
             "type": FixedType(6, 6)}]
    node = Node("e", "expr", ("x",), ("y",),
                {"program": prog, "tables": [np.array([-3, 5, 7, 11])], "outputs": [1]})
    return Graph("g", ("x",), ("y",), {"x": Tensor("x", (1,), tin), "y": Tensor("y", (1,), tout)},
                 (node,)).validate()


def test_lut_index_is_top_bits_clamped():
    g = _lut_graph()
    q = np.arange(-128, 128).reshape(-1, 1)
    got = run(g, q)["y"][:, 0]
    idx = np.clip((q[:, 0] + 16) // 8, 0, 3)
    np.testing.assert_array_equal(got, np.array([-3, 5, 7, 11])[idx] * 16)
    assert list(lut_index(np.array([-17, -16, -9, -8, 15, 100]), {"lo": -16, "shift": 3}, 4)) == [0, 0, 0, 1, 3, 3]


def test_interval_node_contains_every_output_and_is_tight_for_sums():
    g = _graph()
    iv = intervals(g)["y"]
    out = run(g, _vectors(3000))["y"]
    assert np.all(out >= iv[0].astype(np.int64)) and np.all(out <= iv[1].astype(np.int64))
    x0, x1 = sympy.symbols("x0:2")
    from hwai.symbolic.to_ir import expressions_to_graph

    g2 = expressions_to_graph([x0 + x1, x0 - x1], FixedType(8, 3), 2, {"precision": {"width": 24}})
    env = {"x": (np.array([-128, -5], dtype=object), np.array([127, 7], dtype=object), 5)}
    interval_node(g2, g2.node("sr"), env)
    lo, hi, f = env["y"]
    assert (list(lo), list(hi), f) == ([-133, -135], [134, 132], 5)


def test_save_load_round_trip(tmp_path):
    g = _graph()
    g.save(tmp_path)
    h = Graph.load(tmp_path)
    q = _vectors(500)
    np.testing.assert_array_equal(run(g, q)["y"], run(h, q)["y"])
    assert h.node("sr").attrs["program"] == g.node("sr").attrs["program"]
    assert op_counts(h.node("sr"))["lut"] == 5


def test_validate_rejects_forward_references():
    g = _lut_graph()
    bad = g.node("e").with_attrs(program=[{"op": "input", "index": 0},
                                          {"op": "add", "args": [0, 2], "type": FixedType(8, 4)}])
    with pytest.raises(IRError, match="precede"):
        validate_node(g, bad)


def test_evaluate_node_direct_call_shapes():
    g = _graph()
    out = evaluate_node(g, g.node("sr"), [_vectors(10)])
    assert len(out) == 1 and out[0].shape == (2 * 10 + 27, 5)


# --- C++ (ap_fixed) bit-exactness ----------------------------------------------------

def csim_codes(g: Graph, q: np.ndarray, work: Path) -> np.ndarray:
    """The expr node through hwai's native core: generate, compile with g++, run on codes."""
    from hwai.codegen.native import generate
    from hwai.sim.native_csim import csim_native
    from hwai.target import Target

    if shutil.which("g++") is None:
        pytest.fail("g++ is required for the csim tier")
    return csim_native(g, generate(g, Target()), q, cache_dir=work / "cache")


@pytest.mark.csim
@pytest.mark.parametrize("cap", [None, {"width": 12, "integer": 4, "rounding": "RND", "overflow": "WRAP"},
                                 {"width": 10, "integer": 3, "rounding": "RND_CONV", "overflow": "SAT_SYM"}])
def test_cpp_matches_golden_exactly(tmp_path, cap):
    g = _graph(cap, size=256)
    q = _vectors(10_000)
    got = csim_codes(g, q, tmp_path)
    gold = run(g, q)["y"]
    assert got.shape == gold.shape
    assert int((got != gold).sum()) == 0
