"""Dense layers as one distributed-arithmetic adder graph (impl.arith='da', da4ml).

The program is checked against the weights with integers; these tests evaluate it
independently (numpy over Python ints) and run it through Verilator and the native C-sim.
"""

import shutil

import numpy as np
import pytest

pytest.importorskip("da4ml")

from hwai.codegen import da  # noqa: E402
from hwai.codegen.da import layer_program, uses_da  # noqa: E402
from hwai.codegen.native import generate  # noqa: E402
from hwai.codegen.verilog import generate_verilog  # noqa: E402
from hwai.codegen.verilog_context import verilog_context  # noqa: E402
from hwai.errors import RecipeError  # noqa: E402
from hwai.estimate import estimate  # noqa: E402
from hwai.estimate.designs import mlp_graph  # noqa: E402
from hwai.ir import interp  # noqa: E402
from hwai.ir.graph import Graph, Node, Tensor, chain  # noqa: E402
from hwai.ir.types import FixedType  # noqa: E402
from hwai.passes.pipeline import with_arith  # noqa: E402
from hwai.passes.precision import infer_precision, intervals  # noqa: E402
from hwai.target import Target  # noqa: E402


def hetero_weights(n_in: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Per-weight bit widths 0 (pruned) to 4 inside one 6-bit type, plus the awkward
    columns: all zero, all negative, powers of two, one repeated value."""
    bits = rng.choice([0, 1, 2, 3, 4], size=(n_in, n_out), p=[0.3, 0.2, 0.2, 0.2, 0.1])
    lim = np.where(bits > 0, 1 << np.maximum(bits - 1, 0), 0)
    w = (rng.integers(-(1 << 8), 1 << 8, size=bits.shape) % np.maximum(2 * lim, 1)) - lim
    w = np.where(bits > 0, w, 0)
    w[:, 0] = 0
    if n_out > 1:
        w[:, 1] = -np.abs(w[:, 1]) - 1
    if n_out > 2:
        w[:, 2] = np.where(np.arange(n_in) % 2, 4, -8)
    if n_out > 3:
        w[:, 3] = 5
    return w.astype(np.int64)


def da_graph(n_in: int, n_out: int, seed: int = 0, x_type: FixedType | None = None,
             arith: str = "da", relu: bool = True) -> Graph:
    """One hetero-weight dense layer (+ relu to 6 bits) with the given arith."""
    rng = np.random.default_rng(seed)
    w = hetero_weights(n_in, n_out, rng)
    b = rng.integers(-16, 16, size=n_out, dtype=np.int64)
    d = Node("fc", "dense", ("x",), ("h",), {"weight": w, "weight_type": FixedType(6, 1),
                                              "bias": b, "bias_type": FixedType(8, 2), "accum_type": None})
    layers = [(d, Tensor("h", (n_out,)))]
    if relu:
        layers.append((Node("act", "relu", ("h",), ("y",)),
                       Tensor("y", (n_out,), FixedType(6, 2, False, "RND", "SAT"))))
    g = infer_precision(chain(f"da{n_in}x{n_out}", Tensor("x", (n_in,), x_type or FixedType(8, 3)), layers))
    return with_arith(g, arith)


def run_program(prog, x: np.ndarray) -> list[np.ndarray]:
    """Every node's code for input codes ``x`` (object ints: no overflow can hide)."""
    x = x.astype(object)
    vals: list[np.ndarray] = []
    for n in prog.nodes:
        if n.kind == "in":
            v = x[:, n.a]
        elif n.kind == "const":
            v = np.full(len(x), n.code, dtype=object)
        elif n.kind == "neg":
            v = -vals[n.a]
        else:
            a, b = vals[n.a] * (1 << n.sa), vals[n.b] * (1 << n.sb)
            v = a + b if n.kind == "add" else a - b
        vals.append(v)
    return vals


@pytest.mark.unit
@pytest.mark.parametrize("n_in,n_out,seed", [(6, 5, 0), (12, 9, 1), (16, 4, 2), (3, 1, 3)])
def test_program_equals_weights_on_integers(n_in, n_out, seed):
    """Outputs equal x @ w + bias exactly, every node stays inside its interval."""
    g = da_graph(n_in, n_out, seed, x_type=FixedType(7, 2, signed=seed % 2 == 0))
    node = g.nodes[0]
    lo, hi, _ = intervals(g)["x"]
    prog = layer_program(g, node, lo, hi)
    rng = np.random.default_rng(seed)
    lo_i, hi_i = np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64)
    x = np.concatenate([rng.integers(lo_i, hi_i + 1, size=(500, n_in)),
                        np.array([lo_i, hi_i]), np.where(np.arange(n_in) % 2, lo_i, hi_i)[None]])
    vals = run_program(prog, x)
    for n, v in zip(prog.nodes, vals):
        assert n.kind == "in" or (min(v) >= n.lo and max(v) <= n.hi)
    w, b = np.asarray(node.attrs.weight).astype(object), np.asarray(node.attrs.bias).astype(object)
    shift = prog.fp - node.attrs.bias_type.frac
    want = x.astype(object) @ w + b * (1 << shift)
    for j, (k, e) in enumerate(zip(prog.outputs, prog.out_exp)):
        got = vals[k] * (1 << e) if e >= 0 else vals[k] // (1 << -e)
        assert list(got) == list(want[:, j]), f"output {j}"
    assert prog.nodes[prog.outputs[0]].kind in ("const", "in")    # zero column: just the bias


@pytest.mark.unit
def test_constant_zero_input_and_empty_matrix():
    """An input that is always 0 (da4ml drops its row) and a layer with no weight at all."""
    g = da_graph(5, 3, 4)
    node = g.nodes[0]
    lo, hi, _ = intervals(g)["x"]
    lo, hi = list(lo), list(hi)
    lo[2] = hi[2] = 0
    prog = layer_program(g, node, lo, hi)   # checked inside; must not raise
    assert prog.outputs
    empty = g.with_node(node.with_attrs(weight=np.zeros_like(node.attrs.weight)))
    p0 = layer_program(empty, empty.nodes[0], *intervals(empty)["x"][:2])
    assert not p0.adders() and all(p0.nodes[k].kind == "const" for k in p0.outputs)


@pytest.mark.unit
def test_wrong_solution_is_an_internal_error_naming_the_node(monkeypatch):
    g = da_graph(6, 4, 5)
    node = g.nodes[0]
    real = da._solve
    monkeypatch.setattr(da, "_solve", lambda k, lo, hi: real(k + (np.arange(k.shape[1]) == 1), lo, hi))
    da._program.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="node 'fc'.*output 1 does not equal"):
            layer_program(g, node, *intervals(g)["x"][:2])
    finally:
        da._program.cache_clear()


@pytest.mark.unit
def test_only_modular_unrolled_layers_use_da():
    g = da_graph(6, 4, 6)
    assert uses_da(g, g.nodes[0])
    assert not uses_da(g, g.nodes[0].with_impl(arith="csd"))
    sat = g.nodes[0].with_attrs(accum_type=FixedType(12, 5, True, "TRN", "SAT"))
    assert not uses_da(g.with_node(sat), sat)
    assert not uses_da(g, g.nodes[0].with_impl(reuse_factor=2))
    note = estimate(g.with_node(sat), Target()).notes
    assert any("arith=da not used" in n for n in note)


@pytest.mark.unit
def test_estimate_prices_the_shared_graph():
    """The DA estimate counts the program's adders (shared partial sums): fewer LUTs than
    per-neuron trees on a layer with repeated structure, and says what it built."""
    g = da_graph(16, 12, 7, relu=False)
    csd = estimate(with_arith(da_graph(16, 12, 7, relu=False, arith="csd"), "csd"), Target())
    est = estimate(g, Target())
    assert est.total.lut < csd.total.lut and est.total.dsp == 0
    assert any("shared adders" in n for n in est.notes)


@pytest.mark.unit
def test_recipe_arith_da_needs_reuse_factor_one():
    """Checked with the recipe (before any training): one line, exit code 2."""
    from pathlib import Path

    from hwai.recipe.schema import recipe_from_dict
    base = {"name": "t", "model": {"arch": "jet_mlp"}}
    ok = recipe_from_dict({**base, "steps": ["train", {"lower": {"arith": "da"}}]}, Path("r.yaml"))
    assert ok.steps[1].cfg["arith"] == "da"
    assert recipe_from_dict({**base, "steps": ["train", "lower"]}, Path("r.yaml")).steps[1].cfg["arith"] == "csd"
    with pytest.raises(RecipeError) as e:
        recipe_from_dict({**base, "steps": ["train", {"lower": {"arith": "da", "reuse_factor": 2}}]}, Path("r.yaml"))
    assert str(e.value).startswith("r.yaml: steps[1].lower.arith: 'da' needs reuse_factor 1, got 2 (")
    assert e.value.exit_code == 2
    with pytest.raises(RecipeError, match=r"steps\[1\].lower.arith: 'dsp' is not one of"):
        recipe_from_dict({**base, "steps": ["train", {"lower": {"arith": "dsp"}}]}, Path("r.yaml"))


@pytest.mark.unit
def test_verilog_da_is_deterministic_and_aligned():
    g = da_graph(8, 6, 8)
    a, b = generate_verilog(g, stages=3), generate_verilog(g, stages=3)
    assert a.digest() == b.digest()
    ctx = verilog_context(g, stages=3)
    assert ctx["latency"] == 3
    body = ctx["layers"][0]["body"]
    assert any(it["name"].startswith("fc_da") for it in body)
    assert not any("*" in it.get("expr", "") for it in body)     # multiplier-free


def rtl_vectors(g: Graph, n: int) -> np.ndarray:
    from hwai.sim.vectors import make_vectors
    return make_vectors(g, n, seed=0)     # corner vectors and extremes first


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed (apt-get install -y verilator)")
@pytest.mark.parametrize("stages", [pytest.param(1, marks=pytest.mark.slow), 3])
def test_verilator_matches_golden(stages, tmp_path):
    from hwai.sim.rtl import compare_with_golden
    g = with_arith(mlp_graph([12, 10, 6, 4], x_bits=8, w_bits=5, sparsity=0.3, seed=3), "da")
    r = compare_with_golden(g, generate_verilog(g, stages=stages), rtl_vectors(g, 100_000), "verilator",
                            workdir=tmp_path)
    assert r["vectors"] == 100_000 and r["mismatches"] == 0


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed (apt-get install -y verilator)")
def test_verilator_hetero_unsigned_input(tmp_path):
    from hwai.sim.rtl import compare_with_golden
    g = da_graph(10, 7, 9, x_type=FixedType(6, 1, signed=False))
    r = compare_with_golden(g, generate_verilog(g, stages=2), rtl_vectors(g, 20_000), "verilator",
                            workdir=tmp_path)
    assert r["mismatches"] == 0


@pytest.mark.csim
@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_native_csim_matches_golden(tmp_path):
    from hwai.sim.fast_csim import csim_fast
    from hwai.sim.native_csim import csim_native
    g = with_arith(mlp_graph([12, 10, 6, 4], x_bits=8, w_bits=5, sparsity=0.3, seed=3), "da")
    files = generate(g, Target(project_name="da_mlp"))
    assert "dense_da" not in files.text("firmware/layers/dense_dense0.h")  # rendered, not named
    assert "ap_int<" in files.text("firmware/layers/dense_dense0.h")
    x = rtl_vectors(g, 20_000)
    gold = interp.run(g, {"x": x})[g.outputs[0]]
    assert np.array_equal(np.asarray(csim_native(g, files, x, cache_dir=tmp_path)), gold)
    assert np.array_equal(np.asarray(csim_fast(g, x)), gold)   # the int64 flavour: same sums
