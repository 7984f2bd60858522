"""RTL simulation driver: vector packing, tool errors, Verilator build cache and speed."""

import shutil

import numpy as np
import pytest

from hwai.codegen.verilog import generate_verilog
from hwai.errors import HwaiError, MissingToolError
from hwai.estimate.designs import mlp_graph
from hwai.sim import rtl
from hwai.sim.rtl import compare_with_golden, pack_hex, pack_words, unpack_hex, unpack_words

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator not installed (apt-get install -y verilator)")


@pytest.mark.unit
def test_pack_unpack_roundtrip():
    x = np.array([[-4, 3, 0], [-1, -4, 2]])
    lines = pack_hex(x, 3)
    assert lines[0] == format((4 & 7) | (3 << 3), "x")
    np.testing.assert_array_equal(unpack_hex(lines, 3, 3, signed=True), x)
    np.testing.assert_array_equal(unpack_hex(["ff"], 2, 4, signed=False), [[15, 15]])


@pytest.mark.unit
@pytest.mark.parametrize("width,n", [(3, 5), (7, 16), (13, 5), (32, 3), (33, 3), (40, 4), (64, 2)])
def test_pack_words_is_the_hex_layout_in_32_bit_words(width, n):
    rng = np.random.default_rng(width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(lo, hi, size=(50, n), endpoint=True)
    x[0], x[1] = lo, hi
    words = pack_words(x, width)
    assert words.dtype == np.dtype("<u4") and words.shape == (50, -(-n * width // 32))
    as_int = [sum(int(v) << (32 * i) for i, v in enumerate(row)) for row in words]
    assert [format(v, "x") for v in as_int] == pack_hex(x, width)
    np.testing.assert_array_equal(unpack_words(words, n, width, signed=True), x)
    unsigned = x & ((1 << width) - 1) if width < 64 else x
    np.testing.assert_array_equal(unpack_words(words, n, width, signed=width == 64), unsigned)


@pytest.mark.unit
def test_missing_simulator_names_install_command(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = mlp_graph([2, 2])
    with pytest.raises(MissingToolError, match="apt-get install -y verilator"):
        rtl.rtl_sim(g, generate_verilog(g), np.zeros((1, 2), dtype=np.int64), "verilator")


def _vectors(g, n, seed=1):
    rng = np.random.default_rng(seed)
    t = g.tensor("x").type
    x = rng.integers(t.qmin, t.qmax + 1, size=(n, g.tensor("x").size))
    x[: n // 50] = rng.choice([t.qmin, t.qmax, 0, -1], size=(n // 50, x.shape[1]))
    return x


@pytest.mark.rtl
@needs_verilator
@pytest.mark.parametrize("sizes", [[6, 8, 5]])  # port widths 48 bits (QData), 80 (VlWide)
def test_verilator_streams_binary_vectors_exactly_and_caches_the_build(sizes, tmp_path, monkeypatch):
    g = mlp_graph(sizes, sparsity=0.3, w_bits=6, x_bits=8, seed=len(sizes))
    files, x = generate_verilog(g, stages=2), _vectors(g, 5000)
    r = compare_with_golden(g, files, x, "verilator", jobs=2, cache_dir=tmp_path / "c",
                            workdir=tmp_path / "w1")
    assert r == {**r, "vectors": 5000, "mismatches": 0} and r["vectors_per_min"] > 0
    assert sorted(p.name for p in (tmp_path / "w1").glob("out*.bin")) == ["out0.bin", "out1.bin"]

    def no_build(cmd, *a, **k):
        assert not cmd[0].endswith("verilator"), "second build of the same sources must hit the cache"
        return real_run(cmd, *a, **k)
    real_run = rtl._run
    monkeypatch.setattr(rtl, "_run", no_build)
    y = rtl.rtl_sim(g, files, x[:7], cache_dir=tmp_path / "c", workdir=tmp_path / "w2", jobs=1)
    np.testing.assert_array_equal(y, rtl.rtl_sim(g, files, x, "verilator", cache_dir=tmp_path / "c")[:7])


@pytest.mark.rtl
@pytest.mark.slow
@needs_verilator
def test_verilator_1m_vectors_jet_mlp_exact_and_fast(tmp_path):
    g = mlp_graph([16, 64, 32, 32, 5], sparsity=0.7, w_bits=6, x_bits=8)
    x = _vectors(g, 1_000_000)
    r = compare_with_golden(g, generate_verilog(g, stages=2), x, "verilator", workdir=tmp_path)
    assert r == {**r, "vectors": 1_000_000, "mismatches": 0}
    assert r["vectors_per_min"] >= 1_000_000, r


def test_a_build_over_the_rtl_limit_names_the_recipe_key(tmp_path):
    """Verilator's build and run share the rtl step's ``timeout_s``; past it the error says how to raise it."""
    with pytest.raises(HwaiError, match=r"sleep timed out after 1 s .*rtl: \{timeout_s: \.\.\.\}"):
        rtl._run(["sleep", "5"], tmp_path, tmp_path / "build.log", 1.0)


def test_the_rtl_step_reads_its_timeout(monkeypatch, tmp_path):
    from hwai.codegen.emitters import PROJECT_DIRS
    from hwai.sim import checks

    seen = {}

    def fake(graph, project, vectors, simulator, timeout):
        seen["timeout"] = timeout
        raise RuntimeError("stop")

    monkeypatch.setattr(rtl, "rtl_sim", fake)
    (tmp_path / PROJECT_DIRS["verilog"]).mkdir(parents=True)
    with pytest.raises(RuntimeError, match="stop"):
        checks.rtl(mlp_graph([4, 3], seed=0), tmp_path, None, 10, 0, "verilator", log=lambda s: None,
                   timeout=1234.0)
    assert seen["timeout"] == 1234.0
