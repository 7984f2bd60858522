"""Verilog emission vs the golden interpreter (RTL simulation, marker rtl)."""

import itertools
import shutil

import numpy as np
import pytest

from hwai.codegen.verilog import generate_verilog, top_module
from hwai.codegen.verilog_context import verilog_context
from hwai.estimate.designs import dense_graph, mlp_graph
from hwai.ir.graph import Node, Tensor, chain
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from hwai.passes.precision import infer_precision
from hwai.sim.rtl import compare_with_golden

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None,
                                    reason="iverilog not installed (apt-get install -y iverilog)")


def quant_graph(tin: FixedType, tout: FixedType, relu: bool = False):
    op = "relu" if relu else "quant"
    return chain("q", Tensor("x", (1,), tin), [(Node("q", op, ("x",), ("y",)), Tensor("y", (1,), tout))])


@pytest.mark.unit
def test_fileset_is_deterministic_and_zero_weights_emit_nothing():
    g = dense_graph(6, 3, 6, 4, 0.5, seed=3)
    a, b = generate_verilog(g, stages=2), generate_verilog(g, stages=2)
    assert a.digest() == b.digest() and top_module(a) == g.name
    w = np.asarray(g.nodes[0].attrs["weight"])
    body = verilog_context(g)["layers"][0]["body"]
    for j in range(w.shape[1]):
        leaves = [it["expr"] for it in body if it["name"].startswith(f"dense0_{j}_l")]
        used = {int(e.split()[0].split("_")[1]) for e in leaves}
        assert used == set(np.nonzero(w[:, j])[0].tolist())   # zero weight: no leaf at all
    assert verilog_context(g, stages=3)["latency"] == 3


@pytest.mark.rtl
@needs_iverilog
@pytest.mark.parametrize("rm,om", list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)))
def test_cast_all_modes_exhaustive(rm, om, tmp_path):
    """Every input code of ap_fixed<10,4> through casts that round, shift left, wrap, saturate."""
    tin = FixedType(10, 4)
    x = np.arange(tin.qmin, tin.qmax + 1).reshape(-1, 1)
    for k, to in enumerate([FixedType(5, 2, True, rm, om), FixedType(4, 1, False, rm, om),
                            FixedType(3, 5, True, rm, om), FixedType(12, 3, True, rm, om),
                            FixedType(2, -1, False, rm, om), FixedType(1, 1, True, rm, om)]):
        for relu in (False, True):
            g = quant_graph(tin, to, relu)
            compare_with_golden(g, generate_verilog(g), x, "iverilog", workdir=tmp_path / f"{k}{relu}")


@pytest.mark.rtl
@needs_iverilog
@pytest.mark.parametrize("style,stages", [("csd", 1), ("csd", 3), ("mul", 2)])
def test_mlp_matches_golden(style, stages, tmp_path):
    g = mlp_graph([5, 6, 4, 3], x_bits=6, w_bits=5, sparsity=0.4, seed=1)
    rng = np.random.default_rng(0)
    x = rng.integers(-32, 32, size=(3000, 5))
    x[:64] = rng.choice([-32, 31], size=(64, 5))             # saturating corners
    r = compare_with_golden(g, generate_verilog(g, stages=stages, style=style), x, "iverilog",
                            workdir=tmp_path)
    assert r["mismatches"] == 0


@pytest.mark.rtl
@needs_iverilog
def test_narrow_saturating_accumulator_and_dsp_products(tmp_path):
    """A SAT accumulator with fewer fractional bits forces hls4ml's per-addition casts."""
    g = mlp_graph([4, 3], x_bits=12, w_bits=12, sparsity=0.0, seed=5)
    node = g.nodes[0].with_attrs(accum_type=FixedType(10, 4, True, "RND_CONV", "SAT"))
    g = g.with_node(node).retyped("h0", FixedType(8, 4, True, "RND", "SAT_SYM"))
    g = infer_precision(g)
    rng = np.random.default_rng(1)
    x = rng.integers(-2048, 2048, size=(3000, 4))
    compare_with_golden(g, generate_verilog(g, stages=2), x, "iverilog", workdir=tmp_path / "a")
    g2 = mlp_graph([4, 3], x_bits=12, w_bits=12, sparsity=0.0, seed=5)   # modular, DSP '*' leaves
    assert "*" in generate_verilog(g2).text(f"{g2.name}.v")
    compare_with_golden(g2, generate_verilog(g2), x, "iverilog", workdir=tmp_path / "b")
