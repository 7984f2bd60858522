"""hwai's native HLS C++: generation is deterministic, and its C simulation equals the
golden interpreter bit for bit on >= 100,000 vectors for every rounding/overflow mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwai.codegen.fileset import FileSet
from hwai.codegen.native import default_vectors, generate, golden_outputs
from hwai.errors import HwaiError
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.types import OVERFLOW_MODES, ROUNDING_MODES
from hwai.ir.types import FixedType as F
from hwai.passes.precision import infer_precision
from hwai.target import Target

X_TYPE = F(10, 4)  # frac 6: every cast below drops fractional bits, so rounding matters
N_IN = 6           # input "x" feeds the dense layers
N_E = 2            # input "e" feeds the 60 elementwise branches (few codes per sample)


def _dense(name: str, src: str, n_out: int, rng: np.random.Generator, accum: F | None,
           out: F | None, zero: float = 0.5, **impl: int) -> tuple[Node, Tensor]:
    w = rng.integers(-8, 8, (N_IN if src == "x" else 8, n_out))
    w[rng.random(w.shape) < zero] = 0
    attrs = {"weight": w, "bias": rng.integers(-8, 8, n_out), "weight_type": F(4, 0),
             "bias_type": F(5, 1), "accum_type": accum}
    return Node(name, "dense", (src,), (name + "_y",), attrs, dict(impl)), Tensor(name + "_y", (n_out,), out)


def coverage_graph(seed: int = 0) -> Graph:
    """Two inputs, many branches: quant/relu for all 7 x 4 modes, narrow accumulators."""
    rng = np.random.default_rng(seed)
    pairs: list[tuple[Node, Tensor]] = []
    for r, o in itertools.product(ROUNDING_MODES, OVERFLOW_MODES):
        pairs.append((Node(f"q_{r}_{o}", "quant", ("e",), (f"q_{r}_{o}_y",)),
                      Tensor(f"q_{r}_{o}_y", (N_E,), F(5, 2, True, r, o))))
        pairs.append((Node(f"r_{r}_{o}", "relu", ("e",), (f"r_{r}_{o}_y",)),
                      Tensor(f"r_{r}_{o}_y", (N_E,), F(4, 1, False, r, o))))
    for o in OVERFLOW_MODES:  # signed -> unsigned: negative values overflow
        pairs.append((Node(f"u_{o}", "quant", ("e",), (f"u_{o}_y",)),
                      Tensor(f"u_{o}_y", (N_E,), F(6, 3, False, "RND", o))))
    # narrow accumulators (products rounded and saturated on every step) ...
    pairs.append(_dense("d_sat", "x", 8, rng, F(8, 3, True, "RND", "SAT"), F(6, 2, True, "RND_CONV", "SAT_SYM")))
    pairs.append(_dense("d_wrap", "x", 8, rng, F(9, 4, True, "TRN", "WRAP"), F(7, 3, True, "RND_INF", "WRAP")))
    pairs.append(_dense("d_zero", "x", 8, rng, F(9, 2, True, "RND_ZERO", "SAT_ZERO"), F(5, 1, True, "TRN_ZERO", "SAT")))
    # WRAP accumulator that covers the product fraction (no per-product cast) but wraps
    pairs.append(_dense("d_mod", "x", 8, rng, F(12, 2, True, "TRN", "WRAP"), F(8, 2, True, "RND", "SAT")))
    # ... and an exact (inferred) chain dense -> relu -> dense -> quant, with a reuse factor
    pairs.append(_dense("d1", "x", 8, rng, None, None, reuse_factor=2))
    pairs.append((Node("a1", "relu", ("d1_y",), ("a1_y",)), Tensor("a1_y", (8,), F(6, 3, False, "RND_CONV", "SAT"))))
    pairs.append(_dense("d2", "a1_y", 6, rng, None, None, zero=0.3))
    pairs.append((Node("o2", "quant", ("d2_y",), ("o2_y",)), Tensor("o2_y", (6,), F(8, 4, True, "RND_MIN_INF", "SAT"))))
    tensors = {"x": Tensor("x", (N_IN,), X_TYPE), "e": Tensor("e", (N_E,), X_TYPE),
               **{t.name: t for _, t in pairs}}
    internal = {"d1_y", "a1_y", "d2_y"}
    outputs = tuple(t.name for _, t in pairs if t.name not in internal)
    return infer_precision(Graph("coverage", ("x", "e"), outputs, tensors, tuple(n for n, _ in pairs)))


def stimulus(graph: Graph, n_random: int = 100_000, seed: int = 1) -> np.ndarray:
    """Random codes + every-element extremes + inputs that push each dense neuron to its
    largest and smallest accumulator value (saturation/wrap corners)."""
    rng = np.random.default_rng(seed)
    lo, hi = X_TYPE.qmin, X_TYPE.qmax
    n = N_IN + N_E  # flat rows: x codes then e codes (graph input order)
    rand = rng.integers(lo, hi, (n_random, n), endpoint=True)
    edge_vals = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi])
    edges = edge_vals[rng.integers(0, len(edge_vals), (5_000, n))]
    every_code = np.repeat(np.arange(lo, hi + 1), n).reshape(-1, n)  # exhaustive per element
    corners = [np.full(n, v) for v in (lo, hi, 0)]
    for node in graph.nodes:
        if node.op == "dense" and node.inputs == ("x",):
            w = np.asarray(node.attrs["weight"])
            for j in range(w.shape[1]):
                for up, down in ((hi, lo), (lo, hi)):
                    corners.append(np.concatenate([np.where(w[:, j] > 0, up, down), [up] * N_E]))
    return np.concatenate([rand, edges, every_code, np.array(corners)]).astype(np.int64)


def small_graph() -> Graph:
    rng = np.random.default_rng(3)
    d, t = _dense("fc", "x", 4, rng, None, F(8, 3, True, "RND", "SAT"))
    return infer_precision(Graph("small", ("x",), ("fc_y",), {"x": Tensor("x", (N_IN,), X_TYPE), "fc_y": t}, (d,)))


TARGET = Target(project_name="cov")


# --- generation (unit) ---------------------------------------------------------

@pytest.mark.unit
def test_generation_is_byte_identical_and_context_is_json() -> None:
    import json

    from hwai.codegen.context import build_context

    g = coverage_graph()
    a, b = generate(g, TARGET), generate(g, TARGET)
    assert a.digest() == b.digest()
    assert dict(a) == dict(b)
    assert json.loads(json.dumps(build_context(g, TARGET)))["project"] == "cov"


@pytest.mark.unit
def test_layout_and_contents() -> None:
    files = generate(small_graph(), Target(project_name="p"), default_vectors(small_graph(), 7))
    for path in ("firmware/p.cpp", "firmware/p.h", "firmware/defines.h", "firmware/parameters.h",
                 "firmware/layers/dense_fc.h", "tb/p_test.cpp", "tb/p_bridge.cpp", "tb/hwai_codes.h",
                 "tb_data/inputs.dat", "tb_data/golden.dat", "build_vitis.tcl", "build_vivado.tcl",
                 "Makefile", "README.md"):
        assert path in files, path
    top = files.text("firmware/p.cpp")
    assert "#pragma HLS PIPELINE II=1" in top and "#pragma HLS INTERFACE ap_vld port=x,fc_y" in top
    assert "typedef ap_fixed<8,3,AP_RND,AP_SAT> fc_y_t;" in files.text("firmware/defines.h")
    assert len(files.text("tb_data/inputs.dat").splitlines()) == 7
    assert "\t$(CXX)" in files.text("Makefile")  # make needs real tabs


@pytest.mark.unit
def test_zero_weights_emit_nothing_and_reuse_factor_pragmas() -> None:
    g = coverage_graph()
    files = generate(g, TARGET)
    d1 = g.node("d1")
    text = files.text("firmware/layers/dense_d1.h")
    nnz = [int(v) for v in text.split("dense_d1_nnz[8] = {")[1].split("}")[0].split(",")]
    assert nnz == list(np.count_nonzero(d1.attrs["weight"], axis=0))
    assert "#pragma HLS PIPELINE II=2" in text
    assert f"limit={-(-sum(nnz) // 2)}" in text
    assert "#pragma HLS PIPELINE II=2" in files.text("firmware/cov.cpp")  # top II = max reuse


@pytest.mark.unit
def test_all_zero_layer_and_fileset_guards(tmp_path) -> None:
    g = small_graph()
    node = g.node("fc").with_attrs(weight=np.zeros((N_IN, 4), dtype=np.int64))
    files = generate(g.with_node(node), TARGET)
    assert "dense_fc_nnz[4] = { 0, 0, 0, 0 }" in files.text("firmware/layers/dense_fc.h")
    with pytest.raises(ValueError):
        FileSet({"../evil": b""})
    written = files.write(tmp_path)
    assert FileSet.from_dir(tmp_path).digest() == files.digest() and len(written) == len(files)


@pytest.mark.unit
def test_vectors_outside_int64_or_float_rejected() -> None:
    with pytest.raises(HwaiError, match="integer codes"):
        generate(small_graph(), TARGET, np.zeros((2, N_IN)))


# --- C simulation (g++) ----------------------------------------------------------

@pytest.fixture(scope="module")
def ap_types() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")


@pytest.mark.csim
def test_csim_equals_golden_on_100k_vectors(ap_types: None) -> None:
    from hwai.sim.native_csim import csim_native

    g = coverage_graph()
    x = stimulus(g)
    assert len(x) >= 100_000
    got = csim_native(g, generate(g, TARGET), x)
    want = golden_outputs(g, x)
    bounds = np.cumsum([0] + [g.tensor(o).size for o in g.outputs])
    for name, a, b in zip(g.outputs, bounds[:-1], bounds[1:]):
        bad = int(np.count_nonzero(got[name] != want[:, a:b]))
        assert bad == 0, f"{name}: {bad} mismatching codes"
    # the corners really exercise overflow: some saturated accumulators/outputs occur
    sat = g.tensor("d_sat_y").type
    assert np.any(got["d_sat_y"] == sat.qmax) and np.any(got["d_sat_y"] == -sat.qmax)
    assert "acc += x[" in generate(g, TARGET).text("firmware/layers/dense_d_mod.h")  # modular path


@pytest.mark.csim
def test_testbench_binary_passes_and_catches_a_wrong_golden(ap_types: None, tmp_path) -> None:
    from hwai.sim.native_csim import run_testbench

    files = generate(small_graph(), TARGET)
    files.write(tmp_path / "ok")
    ok = run_testbench(tmp_path / "ok")
    assert ok.passed and ok.samples == 256 and ok.mismatches == 0
    rows = files.text("tb_data/golden.dat").splitlines()
    first = rows[0].split()
    rows[0] = " ".join([str(int(first[0]) + 1)] + first[1:])
    files.with_file("tb_data/golden.dat", "\n".join(rows) + "\n").write(tmp_path / "bad")
    bad = run_testbench(tmp_path / "bad")
    assert not bad.passed and bad.mismatches == 1 and "sample 0 output 0" in bad.output


@pytest.mark.unit
def test_expr_without_its_context_module_is_a_clear_error(monkeypatch) -> None:
    import sys

    from hwai.ops import OPS

    monkeypatch.setitem(sys.modules, "hwai.codegen.expr_context", None)  # import -> ImportError
    node = Node("e", "expr", ("x",), ("y",), {"program": [], "tables": [], "outputs": []})
    with pytest.raises(HwaiError, match="hwai.codegen.expr_context"):
        OPS["expr"].native(small_graph(), node, TARGET)
