"""Heterogeneous types in every backend: a per-element input quant, per-weight dense
layers, relu and a per-element activation quant give the same integers in the golden
model (fast path and int64 reference), hls4ml's C simulation, the native ap_fixed and
int64 C simulations and Verilator, on >= 10,000 vectors with corner vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs
from hwai.codegen.verilog import generate_verilog
from hwai.ir import interp
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.numeric import covering_type
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.sim.vectors import corner_vectors, make_vectors
from hwai.target import Target
from tests.backend_checks import (
    mismatches,
    native_apfixed_mismatches,
    native_int_mismatches,
    needs,
    verilator_mismatches,
)
from tests.ir.helpers import hetero_weights

TIN = FixedType(12, 5)          # frac 7: every element type below drops or adds fraction bits
N_VECTORS = 12_000
TARGET = Target(project_name="hetero")


def _elements(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths 0..8 with zeros, integers -3..6 with negatives, signed and unsigned elements."""
    w = rng.integers(0, 9, n)
    i = rng.integers(-3, 7, n)
    s = rng.random(n) < 0.5
    w[:3], i[3:5], s[5], s[6] = 0, (-2, -3), False, True
    w[3:7] = (3, 4, 5, 8)
    return w, i, s


def _quant(name: str, src: str, rng: np.random.Generator, n: int, rounding: str,
           overflow: str) -> tuple[Node, Tensor]:
    w, i, s = _elements(rng, n)
    t = covering_type(w, i, s, rounding, overflow)
    return (Node(name, "quant", (src,), (f"{name}_out",), {"widths": w, "integers": i, "signed": s}),
            Tensor(f"{name}_out", (n,), t))


def _dense(name: str, src: str, rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Node, Tensor]:
    codes, ww, wi, tw = hetero_weights(rng, n_in, n_out, max_bits=8)
    attrs = {"weight": codes, "weight_type": tw, "bias": rng.integers(-8, 8, n_out),
             "bias_type": FixedType(5, 2), "weight_widths": ww, "weight_integers": wi}
    return Node(name, "dense", (src,), (f"{name}_out",), attrs), Tensor(f"{name}_out", (n_out,))


def hetero_design(seed: int = 0, n_in: int = 12, hidden: int = 10, n_out: int = 4) -> Graph:
    """x -> input_quant (RND/SAT) -> fc1 (per weight) -> relu -> act1 (TRN/WRAP) -> fc2."""
    rng = np.random.default_rng(seed)
    layers = [_quant("input_quant", "x", rng, n_in, "RND", "SAT"),
              _dense("fc1", "input_quant_out", rng, n_in, hidden),
              (Node("relu1", "relu", ("fc1_out",), ("relu1_out",)),
               Tensor("relu1_out", (hidden,), FixedType(10, 5, False, "TRN", "WRAP"))),
              _quant("act1", "relu1_out", rng, hidden, "TRN", "WRAP"),
              _dense("fc2", "act1_out", rng, hidden, n_out)]
    return infer_precision(chain("hetero", Tensor("x", (n_in,), TIN), layers)).validate()


@pytest.fixture(scope="module")
def design() -> Graph:
    return hetero_design()


@pytest.fixture(scope="module")
def vectors(design: Graph) -> np.ndarray:
    x = make_vectors(design, N_VECTORS, seed=11)
    assert len(corner_vectors(design)) > 0 and (x[:len(corner_vectors(design))] == corner_vectors(design)).all()
    return x


@pytest.fixture(scope="module")
def golden(design: Graph, vectors: np.ndarray) -> np.ndarray:
    return golden_outputs(design, vectors)




# --- golden model -----------------------------------------------------------------

@pytest.mark.unit
def test_design_really_is_heterogeneous(design: Graph, golden: np.ndarray) -> None:
    a = design.node("input_quant").attrs
    assert (a.widths == 0).any() and (a.integers < 0).any() and (~a.signed).any() and a.signed.any()
    assert design.node("fc1").attrs.per_weight and (design.node("fc1").attrs.weight_widths == 0).any()
    assert design.tensor("act1_out").type.overflow == "WRAP" and design.tensor("input_quant_out").type.rounding == "RND"
    assert len(np.unique(golden, axis=0)) > 1000     # the outputs vary: the check can fail


@pytest.mark.unit
def test_fast_path_runs_per_element_casts_in_floats_exactly(design: Graph, vectors: np.ndarray) -> None:
    from hwai.ir.fastpath import plan_for

    plan = plan_for(design, interp.eval_node, trace=True)
    assert "input_quant" not in plan.fallbacks and "act1" not in plan.fallbacks, plan.fallbacks
    fast = interp.run(design, vectors, trace=True)
    ref = interp.run_reference(design, vectors, trace=True)
    for name in ref:
        assert (np.asarray(fast[name]) == np.asarray(ref[name])).all(), name
    out = interp.run(design, vectors)[design.outputs[0]]    # the moved-scale (untraced) plan too
    assert (out == ref[design.outputs[0]]).all()


@pytest.mark.unit
@pytest.mark.parametrize("rounding,overflow", [("RND_CONV", "SAT_SYM"), ("RND_ZERO", "SAT_ZERO"),
                                                ("RND_INF", "WRAP"), ("TRN_ZERO", "SAT")])
def test_fast_path_every_mode(rounding: str, overflow: str) -> None:
    rng = np.random.default_rng(5)
    node, t = _quant("q", "x", rng, 24, rounding, overflow)
    g = chain("q", Tensor("x", (24,), TIN), [(node, t)])
    x = rng.integers(TIN.qmin, TIN.qmax + 1, (5000, 24))
    assert (interp.run(g, x)["q_out"] == interp.run_reference(g, x)["q_out"]).all()


@pytest.mark.unit
def test_fast_path_per_element_quant_right_after_a_dense_takes_its_moved_scale() -> None:
    from hwai.ir.fastpath import _moved_scales, build_plan

    rng = np.random.default_rng(8)
    g = infer_precision(chain("dq", Tensor("x", (6,), TIN), [_dense("fc", "x", rng, 6, 9),
                                                             _quant("q", "fc_out", rng, 9, "RND_CONV", "SAT")]))
    plan = build_plan(g, interp.eval_node)
    assert not plan.fallbacks
    moved = _moved_scales(g, {n.name: np.float64 for n in g.nodes})
    assert moved.get("q", 1.0) != 1.0                     # the cast's 2**-s went into fc's weights
    x = make_vectors(g, 20_000, seed=2)
    assert (interp.run(g, x)["q_out"] == interp.run_reference(g, x)["q_out"]).all()


# --- generated sources (unit) ----------------------------------------------------------

@pytest.mark.unit
def test_native_header_casts_each_element_into_its_type(design: Graph) -> None:
    text = generate(design, TARGET).text("firmware/layers/quant_input_quant.h")
    a = design.node("input_quant").attrs
    assert "y[0] = 0;  // 0-bit element" in text
    k = int(np.flatnonzero((a.widths > 0) & ~a.signed)[0])
    assert f"y[{k}] = ap_ufixed<{a.widths[k]},{a.integers[k]},AP_RND,AP_SAT>(x[{k}]);" in text
    assert "_loop" not in text


@pytest.mark.unit
def test_int_flavour_casts_each_element_and_shifts_onto_the_grid(design: Graph) -> None:
    from hwai.codegen.native_int import generate_int

    text = generate_int(design, TARGET).text("tb/hetero_int.cpp")
    a, out = design.node("act1").attrs, design.tensor("act1_out").type
    k = int(np.flatnonzero(a.widths > 0)[0])
    frac = a.widths[k] - a.integers[k]
    sign = "true" if a.signed[k] else "false"
    shift = design.tensor("relu1_out").type.frac - frac
    assert (f"y[{k}] = hwai_int::cast<{shift}, {a.widths[k]}, {sign}, hwai_int::TRN, hwai_int::WRAP>(x[{k}])"
            f" * {1 << (out.frac - frac)}LL;") in text


@pytest.mark.unit
def test_verilog_has_one_cast_per_live_element(design: Graph) -> None:
    from hwai.codegen.verilog_context import verilog_context

    ctx = verilog_context(design)
    layer = next(l for l in ctx["layers"] if l["name"] == "input_quant")
    casts = [it for it in layer["body"] if it["kind"] == "cast"]
    a = design.node("input_quant").attrs
    assert len(casts) == int((a.widths > 0).sum())
    assert {c["params"]["WO"] for c in casts} == {int(w) for w in a.widths if w > 0}


@pytest.mark.unit
def test_hls4ml_gets_a_fixed_point_quantizer_with_the_masks(design: Graph) -> None:
    from hwai.codegen.hls4ml_bridge import plan_layers
    from hwai.codegen.hls4ml_layers import layer_list

    plan = plan_layers(design)
    assert [l.kind for l in plan] == ["fixed_point_quantizer", "dense", "relu", "fixed_point_quantizer", "dense"]
    d = next(x for x in layer_list(design, plan) if x["name"] == "act1")
    a = design.node("act1").attrs
    k, b, i = d["mask_kbi"]
    assert d["class_name"] == "FixedPointQuantizer" and (d["RND"], d["SAT"]) == ("TRN", "WRAP")
    live = a.widths > 0
    assert (b[0] == a.widths).all() and (k[0][live] == a.signed[live]).all()
    assert (i[0][live] == a.integers[live]).all()


@pytest.mark.unit
def test_hls4ml_per_element_quant_needs_io_parallel(design: Graph) -> None:
    from hwai.codegen.hls4ml_bridge import check_io_type, plan_layers
    from hwai.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match="node 'input_quant': hls4ml builds per-element "
                                                    "quantizers only with io_type io_parallel"):
        check_io_type(plan_layers(design), Target(io_type="io_stream"))


# --- estimator and report --------------------------------------------------------------

def _narrowed(g: Graph, bits: int) -> Graph:
    """The design with every live element of input_quant cut to at most ``bits`` fraction bits."""
    node = g.node("input_quant")
    a = node.attrs
    frac = a.widths - a.integers
    cut = np.where(a.widths > 0, np.maximum(a.widths - np.maximum(frac - bits, 0), 0), 0)
    t = covering_type(cut, a.integers, a.signed, "RND", "SAT")
    ng = g.with_node(node.with_attrs(widths=cut)).retyped("input_quant_out", t)
    return infer_precision(ng.retyped("fc1_out", None)).validate()


@pytest.mark.unit
def test_estimated_cost_falls_when_widths_fall(design: Graph) -> None:
    from hwai.estimate import estimate

    costs = [estimate(_narrowed(design, b), Target()).total.lut for b in (6, 3, 1)]
    assert costs[0] > costs[1] > costs[2], costs
    node = design.node("input_quant")
    zero = design.with_node(node.with_attrs(widths=np.zeros_like(node.attrs.widths)))
    assert estimate(zero, Target()).per_node["input_quant"].lut == 0       # 0-bit elements: constants
    assert estimate(design, Target()).per_node["input_quant"].lut > 0


@pytest.mark.unit
def test_dense_estimate_counts_per_element_grids_and_zero_elements(design: Graph, monkeypatch) -> None:
    """fc1's inputs sit on coarser grids than their tensor (low bits constant 0: wiring) and
    some are 0-bit constants (no adder): both lower its estimate, as Yosys sees them."""
    from hwai.estimate import estimate
    from hwai.estimate.cost import Coefficients
    from hwai.estimate.tree import neuron_leaves
    from hwai.ops.quant import Quant

    tz = Quant().trailing_zeros(design, design.node("input_quant"))
    a, out = design.node("input_quant").attrs, design.tensor("input_quant_out").type
    k = int(np.flatnonzero(a.widths > 0)[0])
    assert tz[k] == out.frac - (a.widths[k] - a.integers[k]) and (tz[a.widths == 0] == 0).all()
    leaves, _ = neuron_leaves([0, -4, 0], [0, 4, 0], [3, 5, 0], 0, 1, 8, Coefficients(), x_tz=[0, 2, 0])
    assert [lf.tz for lf in leaves] == [0 + 1 + 2, 2 + 1 + 2]   # 5 = 4 + 1 (CSD shifts 0, 2), sh_x 1, x_tz 2
    with_grids = estimate(design, Target()).per_node["fc1"].lut
    monkeypatch.setattr(Quant, "trailing_zeros", lambda self, g, n: None)
    assert with_grids < 0.8 * estimate(design, Target()).per_node["fc1"].lut


@pytest.mark.slow
@pytest.mark.rtl
def test_estimate_tracks_yosys_on_a_hetero_design() -> None:
    """Measured: 16-24-5 hetero design, estimate 5,013 LUT vs Yosys 3,878 (whole module)."""
    from hwai.estimate import estimate
    from hwai.synth.yosys import synth_fileset

    g = hetero_design(n_in=16, hidden=24, n_out=5)
    est = estimate(g, Target()).total.lut
    syn = synth_fileset(generate_verilog(g, module="hetero_whole")).lut
    assert 0.7 * syn < est < 1.5 * syn, (est, syn)


@pytest.mark.unit
def test_report_shows_min_mean_max_bits(design: Graph) -> None:
    from hwai.report.markdown import layer_rows

    rows = {r[0]: r for r in layer_rows(design)}
    a = design.node("input_quant").attrs
    w = design.node("fc1").attrs.weight_widths
    on = a.widths[a.widths > 0]                    # means are over live elements, as for weights
    assert f"{a.widths.min()}/{on.mean():.1f}/{a.widths.max()}" in " ".join(map(str, rows["input_quant"]))
    live = w[w > 0]
    assert f"{w.min()}/{live.mean():.1f}/{w.max()}" in " ".join(map(str, rows["fc1"]))
    assert rows["relu1"][5] == "—"
    from hwai.report.html import _layer_row
    from hwai.report.summary import layer_table

    html = {r["node"]: _layer_row(r) for r in layer_table(design)}
    assert html["input_quant"]["bits_min_mean_max"] == rows["input_quant"][5]


# --- C simulation and RTL ------------------------------------------------------------

@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                           tmp_path: Path) -> None:
    assert native_apfixed_mismatches(design, TARGET, vectors, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_int_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray) -> None:
    assert native_int_mismatches(design, vectors, golden) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                   tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    needs("g++")
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.sim.hls4ml_csim import csim_hls4ml

    # hls4ml's BitExact flow stays off: it would retype every layer (relu1's wrap lost) and
    # fuse the quantizers; to_hls4ml's type check names any layer it changed or removed
    hls_model = to_hls4ml(design, tmp_path / "hls", TARGET, vectors=vectors[:200])
    from hls4ml.model.optimizer.passes.hgq_proxy_model import FixedPointQuantizer
    assert all(isinstance(hls_model.graph[n], FixedPointQuantizer) for n in ("input_quant", "act1"))
    assert "ap_ufixed" in (tmp_path / "hls" / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    compile_hls4ml(hls_model)
    assert mismatches(csim_hls4ml(design, hls_model, vectors), golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                 tmp_path: Path) -> None:
    assert verilator_mismatches(design, TARGET, vectors, golden, tmp_path) == 0


@pytest.mark.csim
@pytest.mark.rtl
def test_da_dense_layers_fed_by_per_element_quants(design: Graph, vectors: np.ndarray, golden: np.ndarray,
                                                   tmp_path: Path) -> None:
    """The distributed-arithmetic dense (impl.arith='da') reads the narrow per-element inputs."""
    pytest.importorskip("da4ml")
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    for tool in ("g++", "verilator"):
        needs(tool)
    from hwai.codegen.da import uses_da
    from hwai.sim.native_csim import csim_native
    from hwai.sim.rtl import rtl_sim

    g = design
    for n in [n for n in design.nodes if n.op == "dense"]:
        g = g.with_node(n.with_impl(arith="da"))
    assert all(uses_da(g, n) for n in g.nodes if n.op == "dense")
    assert mismatches(csim_native(g, generate(g, TARGET), vectors), golden) == 0
    assert mismatches(rtl_sim(g, generate_verilog(g, TARGET, stages=2), vectors, workdir=tmp_path), golden) == 0


@pytest.mark.csim
def test_hwai_verify_on_a_hetero_run_folder(design: Graph, tmp_path: Path, capsys) -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    needs("g++")
    from hwai.cli import main
    from hwai.recipe.rundir import write_marker

    run = tmp_path / "run"
    (run / "steps" / "05_lower").mkdir(parents=True)
    write_marker(run)
    shutil.copy(Path(__file__).resolve().parents[2] / "recipes" / "jet_tagging.yaml", run / "recipe.yaml")
    design.save(run / "steps" / "05_lower" / "checkpoint")
    assert main(["verify", str(run), "--events", "20000", "--backends", "golden,fast,apfixed"]) == 0
    res = json.loads((run / "verify.json").read_text())
    assert all(res["backends"][b]["mismatches"] == 0 for b in ("golden", "fast", "apfixed"))


@pytest.mark.unit
def test_bit_width_plot_bars_are_mean_with_min_max(design: Graph, tmp_path: Path) -> None:
    from hwai.report.plots import _bits, bar_spread
    from hwai.report.summary import layer_table

    rows = [r for r in layer_table(design) if r["op"] == "dense"]
    heights, err = bar_spread(rows, "weight_bits")
    w = design.node("fc1").attrs.weight_widths
    assert heights[0] == pytest.approx(w[w > 0].mean())
    assert err[0][0] == pytest.approx(heights[0] - w.min()) and err[1][0] == pytest.approx(w.max() - heights[0])
    assert bar_spread(rows, "accum_bits") == ([r["accum_bits"] for r in rows], None)
    assert Path(_bits(rows, tmp_path / "bits.png")).stat().st_size > 0


# --- the reference HGQ jet model through every backend (slow) ----------------------------

@pytest.mark.slow
@pytest.mark.csim
@pytest.mark.rtl
def test_reference_hgq_jet_model_every_backend(shared_dir: Path, jets_npz: Path, tmp_path: Path) -> None:
    """HGQ's proxy model, lowered: golden == native ap_fixed == native int64 == hls4ml ==
    Verilator on 12,000 vectors (corners, real jets, jittered and uniform codes)."""
    pytest.importorskip("HGQ")
    pytest.importorskip("hls4ml")
    for tool in ("g++", "verilator"):
        needs(tool)
    from hwai.codegen.hls4ml_bridge import compile_hls4ml, to_hls4ml
    from hwai.engines.keras.io import load_model_file
    from hwai.frontends.keras import lower_keras
    from hwai.sim.fast_csim import csim_fast
    from hwai.sim.native_csim import csim_native
    from hwai.sim.rtl import rtl_sim

    path = shared_dir / "reference-models" / "keras" / "hgq_jet_classifier.h5"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    g = lower_keras(load_model_file(path), FixedType(12, 5, True, "RND", "SAT"))
    assert g.nodes[0].name == "input_quant" and g.nodes[0].attrs.per_element
    assert any(n.op == "dense" and n.attrs.per_weight for n in g.nodes)
    with np.load(jets_npz) as z:
        x = z["X"][:3000].astype(np.float64)
    real = g.tensor(g.inputs[0]).type.from_float((x - x.mean(axis=0)) / x.std(axis=0))
    v = make_vectors(g, N_VECTORS, seed=5, real_codes=real)
    want = golden_outputs(g, v)
    assert (interp.run_reference(g, v)[g.outputs[0]] == want).all()
    assert mismatches(csim_native(g, generate(g, TARGET), v), want) == 0
    assert mismatches(csim_fast(g, v), want) == 0
    hls_model = to_hls4ml(g, tmp_path / "hls", TARGET, vectors=v[:200])
    compile_hls4ml(hls_model)
    from hwai.sim.hls4ml_csim import csim_hls4ml
    assert mismatches(csim_hls4ml(g, hls_model, v), want) == 0
    assert mismatches(rtl_sim(g, generate_verilog(g, TARGET), v, workdir=tmp_path / "rtl"), want) == 0
