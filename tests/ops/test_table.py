"""The ``table`` op (sigmoid/tanh lookup tables): the table rule against an independent numpy
reference, golden vs Keras within the documented bound, golden == QKeras exactly for the
tabulated QKeras quantizers, intervals, cost, and the one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError
from hwai.ir import interp, tables
from hwai.ir.graph import Graph, IRError, Node, Tensor
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision, intervals
from hwai.target import Target

INPUT = FixedType(14, 6, True, "RND_CONV", "SAT")     # reaches beyond the tables' ranges


def _reference(function: str, tin: FixedType, tout: FixedType) -> np.ndarray:
    """The table rule written independently: value of each address, f by its textbook
    formula, round half up (RND) onto the output grid, clip (SAT)."""
    n = 2 ** tin.width
    codes = [a - n if tin.signed and a >= n // 2 else a for a in range(n)]
    x = np.array(codes, dtype=np.float64) / 2.0 ** tin.frac
    f = 1.0 / (1.0 + np.exp(-x)) if function == "sigmoid" else np.tanh(x)
    q = np.floor(f * 2.0 ** tout.frac + 0.5)
    return np.clip(q, tout.qmin, tout.qmax).astype(np.int64)


def table_graph(function: str, bits: int = 8, width: int = 8, n: int = 6) -> Graph:
    tidx, tout = tables.index_type(function, bits), tables.output_type(function, width)
    t = {"x": Tensor("x", (n,), INPUT), "i": Tensor("i", (n,), tidx), "y": Tensor("y", (n,), tout)}
    nodes = (Node("idx", "quant", ("x",), ("i",)),
             Node("act", "table", ("i",), ("y",), {"function": function,
                                                   "table": tables.build_table(function, tidx, tout)}))
    return infer_precision(Graph(function, ("x",), ("y",), t, nodes)).validate()


@pytest.mark.unit
@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
@pytest.mark.parametrize("bits,width", [(10, 10), (8, 12), (6, 4)])
def test_table_equals_independent_reference(function: str, bits: int, width: int) -> None:
    tidx, tout = tables.index_type(function, bits), tables.output_type(function, width)
    got = tables.build_table(function, tidx, tout)
    assert got.shape == (2 ** bits,)
    np.testing.assert_array_equal(got, _reference(function, tidx, tout))


@pytest.mark.unit
@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
def test_golden_is_cast_then_lookup(function: str) -> None:
    """Golden: quant to the index type, then the entry at the code's raw bits, on every input code."""
    g = table_graph(function)
    x = np.arange(INPUT.qmin, INPUT.qmax + 1).reshape(-1, 2)[:, [0, 1, 0, 1, 0, 1]]
    y = interp.run_reference(g, x)["y"]
    tidx = g.tensor("i").type
    want = _reference(function, tidx, g.tensor("y").type)[tidx.from_float(INPUT.to_float(x)) & 0xFF]
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(interp.run(g, x)["y"], y)          # the fast path agrees


@pytest.mark.unit
@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
def test_error_bound_holds_and_is_tight(function: str) -> None:
    g = table_graph(function, bits=10, width=10)
    x = np.arange(INPUT.qmin, INPUT.qmax + 1).reshape(-1, 1).repeat(6, axis=1)
    y = g.tensor("y").type.to_float(interp.run(g, x)["y"][:, 0])
    f = tables.FUNCTIONS[function][0](INPUT.to_float(x[:, 0]))
    bound = tables.error_bound(function, g.tensor("i").type, g.tensor("y").type)
    err = np.abs(y - f).max()
    assert err <= bound and err > bound / 4, (err, bound)
    assert bound < (0.005 if function == "sigmoid" else 0.01)       # 1024 entries, 10-bit entries


@pytest.mark.unit
def test_interval_is_the_entries_an_element_can_select() -> None:
    g = table_graph("sigmoid")
    lo, hi, frac = intervals(g)["y"]
    t = g.tensor("y").type
    assert frac == t.frac and int(min(lo)) == 0 and int(max(hi)) == t.qmax      # -8 -> 0, +8 -> 255/256
    narrow = Tensor("x", (6,), FixedType(6, 1))                                     # inputs in [-1, 1)
    g2 = infer_precision(Graph("s", ("x",), ("y",), {**g.tensors, "x": narrow}, g.nodes)).validate()
    lo2, hi2, _ = intervals(g2)["y"]
    vals = t.to_float(np.array([int(lo2[0]), int(hi2[0])]))
    np.testing.assert_allclose(vals, [1 / (1 + np.e), 1 / (1 + np.exp(-1))], atol=t.lsb)  # 31/32 indexes 1.0


@pytest.mark.unit
def test_cost_is_a_rom_per_element() -> None:
    from hwai.estimate import estimate

    g = table_graph("tanh", bits=8, width=8, n=6)
    c = estimate(g, Target()).per_node["act"]
    assert c.lut == 6 * (256 / 64) * 8 and c.dsp == 0
    c10 = estimate(table_graph("tanh", bits=10, width=8, n=6), Target()).per_node["act"]
    assert c10.lut == 4 * c.lut and c10.stage_ns == pytest.approx(5 / 3 * c.stage_ns)   # depth W - 5


@pytest.mark.unit
def test_ir_checks_and_round_trip(tmp_path) -> None:
    g = table_graph("sigmoid")
    g.save(tmp_path / "g")
    back = Graph.load(tmp_path / "g")
    np.testing.assert_array_equal(back.node("act").attrs.table, g.node("act").attrs.table)
    short = {"function": "sigmoid", "table": g.node("act").attrs.table[:100]}
    with pytest.raises(IRError, match="node 'act': the table needs 2\\*\\*8 codes"):
        Graph(g.name, g.inputs, g.outputs, g.tensors, (g.nodes[0], Node("act", "table", ("i",), ("y",), short))
              ).validate()
    wide = Tensor("i", (6,), FixedType(20, 4))
    with pytest.raises(IRError, match="20-bit input has more than 2\\*\\*16 entries"):
        Graph(g.name, g.inputs, g.outputs, {**g.tensors, "i": wide}, g.nodes).validate()


# --- Keras / QKeras frontend ----------------------------------------------------------


def _keras():
    return pytest.importorskip("tensorflow", reason="the Keras frontend needs TensorFlow")


@pytest.mark.unit
def test_keras_sigmoid_tanh_within_bound() -> None:
    """Activation('sigmoid') and Dense(activation='tanh') with on-grid weights: the golden
    model is Keras up to the table's documented error (and exactly the table rule)."""
    tf = _keras()
    from hwai.frontends.keras import lower_keras

    inp = tf.keras.Input((4,), name="x")
    h = tf.keras.layers.Activation("sigmoid", name="s")(inp)
    d = tf.keras.layers.Dense(3, activation="tanh", name="d")
    out = d(h)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(0)
    d.set_weights([rng.integers(-64, 64, (4, 3)) / 32.0, rng.integers(-32, 32, 3) / 32.0])
    g = lower_keras(model, INPUT)
    assert [n.op for n in g.nodes] == ["quant", "table", "dense", "quant", "table"]
    x = rng.integers(INPUT.qmin, INPUT.qmax + 1, (5000, 4))
    trace = interp.run(g, x, trace=True)
    s_name, t_name = g.nodes[1].outputs[0], g.nodes[4].outputs[0]
    s_keras = tf.keras.Model(inp, h)(INPUT.to_float(x)).numpy()
    s_bound = tables.error_bound("sigmoid", g.tensor(g.nodes[0].outputs[0]).type, g.tensor(s_name).type)
    assert np.abs(g.tensor(s_name).type.to_float(trace[s_name]) - s_keras).max() <= s_bound
    # the tanh layer alone: Keras' tanh of the golden dense output
    pre = g.tensor(g.nodes[2].outputs[0]).type.to_float(trace[g.nodes[2].outputs[0]])
    t_bound = tables.error_bound("tanh", g.tensor(g.nodes[3].outputs[0]).type, g.tensor(t_name).type)
    assert np.abs(g.tensor(t_name).type.to_float(trace[t_name]) - np.tanh(pre)).max() <= t_bound


@pytest.mark.unit
def test_keras_table_options() -> None:
    tf = _keras()
    from hwai.frontends.keras import lower_keras

    inp = tf.keras.Input((2,), name="x")
    model = tf.keras.Model(inp, tf.keras.layers.Activation("tanh", name="t")(inp))
    from hwai.engines.keras import KerasEngine
    from hwai.recipe.schema import recipe_from_dict

    r = recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"},
                          "steps": ["train", {"lower": {"table": {"bits": 7, "width": 12}}}]})
    g = KerasEngine().lower(model, INPUT, r.steps[1].cfg)      # the recipe's lower.table reaches the frontend
    assert g.tensor(g.nodes[0].outputs[0]).type == tables.index_type("tanh", 7)
    assert g.tensor(g.nodes[1].outputs[0]).type == tables.output_type("tanh", 12)
    assert g.node("t").attrs.table.size == 128
    assert lower_keras(model, INPUT).node("t").attrs.table.size == 1024     # default: hls4ml's 1024


@pytest.mark.unit
def test_recipe_table_bits_are_checked() -> None:
    from hwai.errors import RecipeError
    from hwai.recipe.schema import recipe_from_dict

    with pytest.raises(RecipeError, match="steps\\[1\\].lower.table.bits: 20 is above the maximum 16"):
        recipe_from_dict({"name": "t", "model": {"arch": "jet_mlp"},
                          "steps": ["train", {"lower": {"table": {"bits": 20}}}]})


@pytest.mark.unit
@pytest.mark.parametrize("make", ["quantized_tanh(6)", "quantized_sigmoid(5)", "quantized_tanh(8, use_real_tanh=True)",
                                  "quantized_sigmoid(8, use_real_sigmoid=True)", "'hard_sigmoid'"])
def test_qkeras_quantizer_tables_are_exact(make: str) -> None:
    tf = _keras()
    qkeras = pytest.importorskip("qkeras")
    from hwai.frontends.keras import lower_keras

    inp = tf.keras.Input((3,), name="x")
    h = qkeras.QActivation(qkeras.quantized_bits(9, 3, alpha=1), name="q")(inp)
    out = qkeras.QActivation(eval(make, vars(qkeras)), name="act")(h)
    model = tf.keras.Model(inp, out)
    g = lower_keras(model, INPUT)
    assert [n.op for n in g.nodes] == ["quant", "table"]
    x = np.arange(INPUT.qmin, INPUT.qmax + 1, 3).reshape(-1, 1).repeat(3, axis=1)
    y = g.tensor(g.outputs[0]).type.to_float(interp.run(g, x)[g.outputs[0]])
    want = model(INPUT.to_float(x).astype(np.float32)).numpy()
    np.testing.assert_array_equal(y, want)


@pytest.mark.unit
def test_unsupported_activations_are_one_line_errors() -> None:
    tf = _keras()
    qkeras = pytest.importorskip("qkeras")
    from hwai.frontends.keras import check_supported, lower_keras

    inp = tf.keras.Input((3,), name="x")
    h = qkeras.QDense(4, kernel_quantizer=qkeras.quantized_bits(4, 0, alpha=1), name="fc")(inp)
    model = tf.keras.Model(inp, qkeras.QActivation(qkeras.quantized_tanh(6), name="qt")(h))
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(model)                        # before any training
    assert UnsupportedLayerError.exit_code == 2 and "\n" not in str(err.value)
    assert "layer 'qt' (QActivation)" in str(err.value) and "needs a quantized input of at most 16 bits" \
        in str(err.value) and "quantized_bits" in str(err.value)
    first = tf.keras.Model(inp, qkeras.QActivation(qkeras.quantized_sigmoid(4), name="qs")(inp))
    with pytest.raises(UnsupportedLayerError, match="layer 'qs' .*got a 20-bit input"):
        lower_keras(first, FixedType(20, 8))          # the input type is known at lowering
    soft = tf.keras.Model(inp, tf.keras.layers.Activation("softsign", name="ss")(inp))
    with pytest.raises(UnsupportedLayerError, match="layer 'ss' .*activation 'softsign' .*sigmoid, tanh"):
        check_supported(soft)
    hard = tf.keras.Model(inp, tf.keras.layers.Dense(2, activation="hard_sigmoid", name="hd")(inp))
    with pytest.raises(UnsupportedLayerError, match="layer 'hd' .*separate"):
        check_supported(hard)


@pytest.mark.rtl
@pytest.mark.slow
def test_rom_estimate_matches_yosys() -> None:
    """The ROM rule against Yosys on the table node alone: within 10 % (measured 68 vs 64 LUT)."""
    from hwai.codegen.verilog import generate_verilog
    from hwai.errors import MissingToolError
    from hwai.estimate import estimate
    from hwai.synth.yosys import synth_fileset, yosys_command

    try:
        yosys_command()
    except MissingToolError:
        pytest.skip("Yosys not installed")

    g = table_graph("sigmoid", 8, 8, n=2)
    sub = infer_precision(Graph("t", ("i",), ("y",), {k: g.tensors[k] for k in ("i", "y")}, g.nodes[1:])).validate()
    got = synth_fileset(generate_verilog(sub, Target(project_name="t"), stages=1, module="t"))
    assert got.lut == pytest.approx(estimate(sub, Target()).per_node["act"].lut, rel=0.1)


# --- softmax (exp and inverse tables, hls4ml's softmax_stable steps) -------------------


def _libm_expf():
    import ctypes
    import ctypes.util

    f = ctypes.CDLL(ctypes.util.find_library("m")).expf
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


SOFTMAX_IN = FixedType(10, 4, True, "RND_CONV", "SAT")


def softmax_graph(n: int = 5, tin: FixedType = SOFTMAX_IN) -> Graph:
    ty = tables.softmax_types(n)
    attrs = {**{f"{k}_type": t for k, t in ty.items()},
             "exp_table": tables.softmax_exp_table(ty["norm"], ty["exp"]),
             "inv_table": tables.softmax_inv_table(ty["inv_in"], ty["inv"])}
    t = {"x": Tensor("x", (n,), tin), "y": Tensor("y", (n,), ty["exp"])}
    return infer_precision(Graph("sm", ("x",), ("y",), t, (Node("soft", "softmax", ("x",), ("y",), attrs),))).validate()


@pytest.mark.unit
def test_softmax_tables_follow_hls4ml_float_rule() -> None:
    """exp entry a = RND/SAT cast of the C library's expf(-a/64) (what hls4ml's C++ init calls);
    inverse entry a = cast of float32 1 / (a * 2**-6); both within one code of float64 maths."""
    ty = tables.softmax_types(5)
    norm, exp, inv_in, inv = ty["norm"], ty["exp"], ty["inv_in"], ty["inv"]
    expf = _libm_expf()
    x = np.arange(2 ** norm.width) / 2.0 ** norm.frac
    want = np.clip(np.floor(np.array([expf(-v) for v in x], dtype=np.float32) * 2.0 ** exp.frac + 0.5), 0, exp.qmax)
    got = tables.softmax_exp_table(norm, exp)
    np.testing.assert_array_equal(got, want)
    assert np.abs(got - np.floor(np.exp(-x) * 2.0 ** exp.frac + 0.5)).max() <= 1
    s = np.arange(1, 2 ** inv_in.width) / 2.0 ** inv_in.frac
    want_inv = np.clip(np.floor((np.float32(1) / s.astype(np.float32)) * 2.0 ** inv.frac + 0.5), 0, inv.qmax)
    np.testing.assert_array_equal(tables.softmax_inv_table(inv_in, inv)[1:], want_inv)


@pytest.mark.unit
def test_softmax_golden_steps_and_accuracy() -> None:
    g = softmax_graph()
    rng = np.random.default_rng(2)
    tin, tout = g.tensor("x").type, g.tensor("y").type
    x = rng.integers(tin.qmin, tin.qmax + 1, (20000, 5))
    y = interp.run(g, x)["y"]
    a = g.node("soft").attrs
    # the steps written out once more, independently of hwai.ops.softmax.steps
    d = np.minimum(np.floor((x.max(1, keepdims=True) - x) * 2.0 ** (a.norm_type.frac - tin.frac) + 0.5),
                   a.norm_type.qmax).astype(int)
    e = a.exp_table[d]
    s = np.minimum((e.sum(1) + (1 << 2)) >> 3, a.inv_in_type.qmax)      # frac 9 -> 6, RND, SAT
    want = np.minimum((e * a.inv_table[s][:, None] + (1 << 8)) >> 9, tout.qmax)      # frac 18 -> 9
    np.testing.assert_array_equal(y, want)
    xf = tin.to_float(x)
    p = np.exp(xf - xf.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = np.abs(tout.to_float(y) - p).max()
    assert 0.002 < err <= 0.015                         # measured 0.0101 with the 10-bit defaults
    assert np.mean(np.argmax(y, 1) == np.argmax(p, 1)) > 0.97
    lo, hi, _ = intervals(g)["y"]
    assert int(min(lo)) >= 0 and int(max(hi)) <= tout.qmax and y.max() <= int(max(hi))


@pytest.mark.unit
def test_softmax_checks() -> None:
    g = softmax_graph()
    a = dict(g.node("soft").attrs)
    with pytest.raises(IRError, match="softmax exp_table needs 2\\*\\*10 codes"):
        Graph(g.name, g.inputs, g.outputs, g.tensors,
              (Node("soft", "softmax", ("x",), ("y",), {**a, "exp_table": a["exp_table"][:10]}),)).validate()
    with pytest.raises(IRError, match="does not hold the sum of 5 entries"):
        Graph(g.name, g.inputs, g.outputs, g.tensors,
              (Node("soft", "softmax", ("x",), ("y",), {**a, "accum_type": FixedType(11, 2, False)}),)).validate()


@pytest.mark.unit
def test_keras_final_softmax_kept_on_request() -> None:
    tf = _keras()
    from hwai.frontends.keras import lower_keras

    inp = tf.keras.Input((6,), name="x")
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="softmax", name="out")(inp))
    assert [n.op for n in lower_keras(model, INPUT).nodes] == ["dense", "quant"]      # logits (default)
    g = lower_keras(model, INPUT, output="softmax")
    assert [n.op for n in g.nodes] == ["dense", "quant", "softmax"] and g.meta["output_activation"] == "linear"
    x = np.random.default_rng(1).integers(-2048, 2048, (4000, 6))
    y = g.tensor(g.outputs[0]).type.to_float(interp.run(g, x)[g.outputs[0]])
    want = model(INPUT.to_float(x)).numpy()
    assert np.abs(y - want).max() < 0.03              # table error plus the default 16-bit weights
    plain = tf.keras.Model(inp, tf.keras.layers.Dense(4, name="lin")(inp))
    with pytest.raises(UnsupportedLayerError, match="lower.output is softmax but the model's last layer 'lin' "
                                                    "\\(Dense\\) ends in no softmax; use output: logits"):
        lower_keras(plain, INPUT, output="softmax")


@pytest.mark.unit
def test_softmax_cost_counts_live_rom_entries_and_dsps() -> None:
    from hwai.estimate import estimate

    c = estimate(softmax_graph(5), Target()).per_node["soft"]
    assert c.dsp == 5 and c.latency_cycles == 1 and 600 < c.lut < 800 and c.fmax_mhz < 200
    assert estimate(softmax_graph(8), Target()).per_node["soft"].lut > c.lut + 3 * 60   # 3 more exp ROMs


@pytest.mark.rtl
@pytest.mark.slow
def test_softmax_estimate_matches_yosys() -> None:
    """Measured 670 LUT + 5 DSP (Yosys) vs 720 LUT + 5 DSP estimated."""
    from hwai.codegen.verilog import generate_verilog
    from hwai.errors import MissingToolError
    from hwai.estimate import estimate
    from hwai.synth.yosys import synth_fileset, yosys_command

    try:
        yosys_command()
    except MissingToolError:
        pytest.skip("Yosys not installed")
    g = softmax_graph(5)
    got = synth_fileset(generate_verilog(g, Target(project_name="s"), stages=1, module="s"))
    est = estimate(g, Target()).per_node["soft"]
    assert got.dsp == est.dsp and got.lut == pytest.approx(est.lut, rel=0.15)


@pytest.mark.unit
def test_hgq_proxy_refuses_table_activations() -> None:
    """The HGQ proxy frontend lowers linear/relu only: a sigmoid there is refused, not dropped."""
    tf = _keras()
    from hwai.frontends import hgq

    inp = tf.keras.Input((3,), name="x")
    model = tf.keras.Model(inp, tf.keras.layers.Activation("sigmoid", name="sig")(inp))
    with pytest.raises(UnsupportedLayerError, match="layer 'sig' .*activation 'sigmoid' in an HGQ proxy model"):
        hgq.check_supported(list(model.layers))
