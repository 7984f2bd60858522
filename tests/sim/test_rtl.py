"""RTL simulation driver: hex packing, tool errors, Verilator at scale."""

import shutil

import numpy as np
import pytest

from hwai.codegen.verilog import generate_verilog
from hwai.errors import MissingToolError
from hwai.estimate.designs import mlp_graph
from hwai.sim import rtl
from hwai.sim.rtl import compare_with_golden, pack_hex, unpack_hex


@pytest.mark.unit
def test_pack_unpack_roundtrip():
    x = np.array([[-4, 3, 0], [-1, -4, 2]])
    lines = pack_hex(x, 3)
    assert lines[0] == format((4 & 7) | (3 << 3), "x")
    np.testing.assert_array_equal(unpack_hex(lines, 3, 3, signed=True), x)
    np.testing.assert_array_equal(unpack_hex(["ff"], 2, 4, signed=False), [[15, 15]])


@pytest.mark.unit
def test_missing_simulator_names_install_command(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = mlp_graph([2, 2])
    with pytest.raises(MissingToolError, match="apt-get install -y verilator"):
        rtl.rtl_sim(g, generate_verilog(g), np.zeros((1, 2), dtype=np.int64), "verilator")


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("verilator") is None,
                    reason="verilator not installed (apt-get install -y verilator)")
def test_verilator_100k_vectors_jet_mlp(tmp_path):
    g = mlp_graph([16, 64, 32, 32, 5], sparsity=0.7, w_bits=6, x_bits=8)
    rng = np.random.default_rng(1)
    t = g.tensor("x").type
    x = rng.integers(t.qmin, t.qmax + 1, size=(100_000, 16))
    x[:2000] = rng.choice([t.qmin, t.qmax, 0, -1], size=(2000, 16))
    r = compare_with_golden(g, generate_verilog(g, stages=2), x, "verilator", workdir=tmp_path)
    assert r == {**r, "vectors": 100_000, "mismatches": 0}
