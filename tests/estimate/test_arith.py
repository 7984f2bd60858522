"""``lower.arith: auto``: shared adder graphs (da) only where the estimate finds them smaller
and no slower than per-neuron trees (csd)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("da4ml", reason="da4ml not installed (pip install da4ml==0.5.2)")

from hwai.estimate import estimate  # noqa: E402
from hwai.estimate.arith import choose_arith, prefers_da  # noqa: E402
from hwai.estimate.cost import Cost  # noqa: E402
from hwai.estimate.designs import mlp_graph  # noqa: E402
from hwai.passes.pipeline import with_arith  # noqa: E402
from hwai.recipe.schema import recipe_from_dict  # noqa: E402
from hwai.target import Target  # noqa: E402

pytestmark = pytest.mark.unit


def test_the_rule():
    assert prefers_da(Cost(lut=90, latency_cycles=1), Cost(lut=100, latency_cycles=1))
    assert not prefers_da(Cost(lut=50, latency_cycles=2), Cost(lut=100, latency_cycles=1))  # a cycle more
    assert not prefers_da(Cost(lut=100, latency_cycles=1), Cost(lut=100, latency_cycles=1))  # nothing saved


def test_auto_mixes_per_layer_and_keeps_the_trees_latency():
    """The jet MLP's shape: the first and last layers' shared graphs need a second cycle where
    per-neuron trees need one, the middle layers need two either way; auto picks per layer."""
    t = Target()
    g = mlp_graph([16, 64, 32, 32, 5], x_bits=12, w_bits=6, sparsity=0.7)
    da, csd = estimate(with_arith(g, "da"), t), estimate(with_arith(g, "csd"), t)
    auto_g = choose_arith(g, t)
    auto = estimate(auto_g, t)
    picks = {n.name: n.impl["arith"] for n in auto_g.nodes if n.op == "dense"}
    for name, pick in picks.items():
        assert pick == ("da" if prefers_da(da.per_node[name], csd.per_node[name]) else "csd")
    assert set(picks.values()) == {"da", "csd"}                # a real mix on this design
    assert auto.total.latency_cycles == csd.total.latency_cycles < da.total.latency_cycles
    assert auto.total.lut < csd.total.lut
    for name in picks:                                         # every layer at its cheaper no-slower form
        assert auto.per_node[name].lut == min(da.per_node[name].lut, csd.per_node[name].lut) \
            or picks[name] == "csd"


def test_a_layer_that_sets_its_own_arith_keeps_it():
    g = mlp_graph([16, 32, 5], x_bits=12, w_bits=3, sparsity=0.5)
    first = g.nodes[0].name
    g = g.with_node(g.nodes[0].with_impl(arith="da"))
    out = choose_arith(g, Target())
    assert out.node(first).impl["arith"] == "da"
    assert all(n.impl["arith"] == "csd" for n in out.nodes if n.op == "dense" and n.name != first)


def test_recipe_accepts_auto():
    base = {"name": "r", "model": {"framework": "keras", "arch": "jet_mlp"}, "data": {"source": "x.npz"}}
    r = recipe_from_dict({**base, "steps": ["train", {"lower": {"arith": "auto"}}]}, Path("r.yaml"))
    assert r.steps[1].cfg["arith"] == "auto"
