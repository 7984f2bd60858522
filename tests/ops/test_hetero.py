"""Heterogeneous (per-element / per-weight) types: golden semantics, intervals, validator, EBOPs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwai.errors import IRError
from hwai.estimate import ebops
from hwai.ir import interp
from hwai.ir.graph import Graph
from hwai.ir.numeric import covering_type, element_types, holds, requantize_elements
from hwai.ir.types import FixedType, requantize
from hwai.passes.precision import intervals
from tests.ir.helpers import INPUT, hetero_graph

pytestmark = pytest.mark.unit


def _inputs(n: int, size: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(INPUT.qmin, INPUT.qmax + 1, (n, size))


@pytest.mark.parametrize("rounding,overflow", [("RND", "SAT"), ("TRN", "WRAP"), ("RND_CONV", "SAT_SYM")])
def test_requantize_elements_is_the_uniform_cast_per_element(rounding: str, overflow: str) -> None:
    rng = np.random.default_rng(3)
    w, i, s = rng.integers(0, 9, 40), rng.integers(-3, 7, 40), rng.random(40) < 0.5
    out = covering_type(w, i, s, rounding, overflow)
    q = rng.integers(-5000, 5000, (500, 40))
    got = requantize_elements(q, 7, w, i, s, out)
    for k, t in enumerate(element_types(w, i, s, rounding, overflow)):
        want = 0 if t is None else requantize(q[:, k], 7, t) * (1 << (out.frac - t.frac))
        assert (got[:, k] == want).all()
        if t is not None:
            assert holds(out, t)


def test_covering_type_is_narrowest() -> None:
    t = covering_type(np.array([3, 5, 8, 0]), np.array([1, -1, 4, 9]), np.array([True, False, True, True]))
    assert (t.width, t.integer, t.signed) == (10, 4, True)
    assert covering_type(np.zeros(3, int), np.zeros(3, int), np.zeros(3, bool)).width == 1


def test_hetero_graph_golden_matches_per_node_reference_and_intervals() -> None:
    g = hetero_graph((6, 10, 7, 5), seed=2).validate()
    x = _inputs(4000, 6)
    env = interp.run(g, x, trace=True)
    ref = interp.run_reference(g, x, trace=True)
    iv = intervals(g)
    for name, v in env.items():
        assert (np.asarray(v) == np.asarray(ref[name])).all(), name
        lo, hi, _ = iv[name]
        v2 = np.asarray(v).reshape(len(x), -1)
        assert (v2 >= lo.astype(np.int64)).all() and (v2 <= hi.astype(np.int64)).all(), name


def test_per_element_zero_width_gives_zero_and_dense_codes_on_grid() -> None:
    g = hetero_graph(seed=5)
    q = g.node("input_quant")
    env = interp.run(g, _inputs(200, 6), trace=True)
    dead = np.flatnonzero(q.attrs.widths == 0)
    assert (env["input_quant_out"][:, dead] == 0).all()
    fc = g.node("fc1").attrs
    assert (np.asarray(fc.weight)[fc.weight_widths == 0] == 0).all()


def test_save_load_roundtrip_keeps_element_types(tmp_path) -> None:
    g = hetero_graph(seed=7)
    g.save(tmp_path)
    h = Graph.load(tmp_path).validate()
    x = _inputs(300, 6)
    assert (interp.run(g, x)[g.outputs[0]] == interp.run(h, x)[h.outputs[0]]).all()
    assert (h.node("fc1").attrs.weight_widths == g.node("fc1").attrs.weight_widths).all()
    assert (h.node("act1").attrs.signed == g.node("act1").attrs.signed).all()


def _with_attrs(g: Graph, node: str, **kw) -> Graph:
    n = g.node(node)
    return g.with_node(dataclasses.replace(n, attrs=dataclasses.replace(n.attrs, **kw)))


def test_validator_rejects_a_per_weight_type_wider_than_the_layer_type() -> None:
    g = hetero_graph(seed=1)
    a = g.node("fc1").attrs
    ww = a.weight_widths.copy()
    ww[0, 0] = a.weight_type.width + 3
    with pytest.raises(IRError, match=r"node 'fc1': weight \(0, 0\) type ap_fixed<.*wider than"):
        _with_attrs(g, "fc1", weight_widths=ww).validate()


def test_validator_rejects_a_code_off_its_own_grid() -> None:
    g = hetero_graph(seed=1)
    a = g.node("fc1").attrs
    ww, w = a.weight_widths.copy(), np.asarray(a.weight).copy()
    i, j = np.argwhere(ww == 0)[0]
    w[i, j] = 1                                      # a pruned weight that is not zero
    with pytest.raises(IRError, match=rf"node 'fc1': weight \({i}, {j}\) code 1 is not a value"):
        _with_attrs(g, "fc1", weight=w).validate()


def test_validator_rejects_element_types_the_tensor_type_cannot_hold() -> None:
    g = hetero_graph(seed=1)
    n = g.node("input_quant")
    g = g.retyped(n.outputs[0], FixedType(4, 2))
    with pytest.raises(IRError, match="node 'input_quant': element .* does not fit the tensor type"):
        g.validate()
    with pytest.raises(IRError, match="widths, integers and signed together"):
        _with_attrs(hetero_graph(seed=1), "input_quant", signed=None).validate()


def test_ebops_follow_the_element_types() -> None:
    g = hetero_graph((6, 10, 5), seed=4)
    q = g.node("input_quant").attrs
    narrower = _with_attrs(g, "input_quant", widths=np.minimum(q.widths, 2))
    assert ebops(narrower) < ebops(g)


def test_estimate_falls_when_element_widths_fall() -> None:
    from hwai.estimate import estimate
    from hwai.target import Target
    g = hetero_graph((6, 10, 5), seed=4)
    q = g.node("act1").attrs
    w = np.minimum(q.widths, 1)
    t = covering_type(w, q.integers, q.signed, "RND", "SAT")
    small = _with_attrs(g, "act1", widths=w).retyped("act1_out", t)
    tgt = Target()
    assert estimate(small, tgt).total.lut < estimate(g, tgt).total.lut
