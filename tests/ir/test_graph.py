"""Graph validation and JSON+npz round trip."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from hwai.ir.graph import Graph, IRError, Node
from hwai.ir.interp import run
from tests.ir.helpers import mlp_graph


def test_save_load_roundtrip_is_identical(tmp_path) -> None:
    g = mlp_graph()
    g.save(tmp_path / "a")
    h = Graph.load(tmp_path / "a")
    assert h.tensors == g.tensors
    assert [n.name for n in h.nodes] == [n.name for n in g.nodes]
    x = np.random.default_rng(0).integers(-512, 512, (100, 8))
    np.testing.assert_array_equal(run(h, x)[h.outputs[0]], run(g, x)[g.outputs[0]])
    h.save(tmp_path / "b")
    assert (tmp_path / "a" / "graph.json").read_bytes() == (tmp_path / "b" / "graph.json").read_bytes()
    assert (tmp_path / "a" / "graph.npz").read_bytes() == (tmp_path / "b" / "graph.npz").read_bytes()


def test_validate_catches_bad_graphs() -> None:
    g = mlp_graph()
    bad_w = g.nodes[0].with_attrs(weight=np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(IRError, match="weight shape"):
        g.with_node(bad_w).validate()
    with pytest.raises(IRError, match="unknown op"):
        g.with_node(replace(g.nodes[1], op="conv")).validate()
    with pytest.raises(IRError, match="not produced before"):
        replace(g, nodes=tuple(reversed(g.nodes))).validate()
    with pytest.raises(IRError, match="without a fixed-point type"):
        g.retyped(g.nodes[1].outputs[0], None).validate()


def test_nodes_are_frozen() -> None:
    n = Node("a", "relu", ("x",), ("y",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.name = "b"  # type: ignore[misc]
