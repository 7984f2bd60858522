"""The registry and shaped tensors: typed attributes, per-axis dense, shape checks,
one-line errors from emitters that only build rank-1 tensors so far."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import generate
from hwai.codegen.verilog import generate_verilog
from hwai.errors import UnsupportedLayerError
from hwai.ir import interp
from hwai.ir.graph import Graph, IRError, Node, Tensor
from hwai.ir.types import FixedType as F
from hwai.ops import OPS
from hwai.ops.dense import DenseAttrs
from hwai.passes.precision import infer_precision, intervals
from hwai.target import Target

X = F(8, 3)
P, FEAT, N = 5, 4, 3


def _dense(name: str, src: str, dst: str, n_in: int, n_out: int, seed: int = 0) -> Node:
    rng = np.random.default_rng(seed)
    return Node(name, "dense", (src,), (dst,), {"weight": rng.integers(-8, 8, (n_in, n_out)), "weight_type": F(4, 1),
                                               "bias": rng.integers(-8, 8, n_out), "bias_type": F(5, 2)})


def particle_graph() -> Graph:
    """(P, F) particles -> per-particle dense (P, N) -> relu."""
    tensors = {"x": Tensor("x", (P, FEAT), X), "h": Tensor("h", (P, N)), "y": Tensor("y", (P, N))}
    nodes = (_dense("phi", "x", "h", FEAT, N), Node("act", "relu", ("h",), ("y",)))
    return infer_precision(Graph("particles", ("x",), ("y",), tensors, nodes))


@pytest.mark.unit
def test_registry_is_one_explicit_table_of_typed_ops() -> None:
    assert list(OPS) == ["dense", "relu", "quant", "expr", "leaky_relu", "global_pool", "patches", "reshape",
                         "table", "softmax", "batchnorm", "pool", "add", "concat", "sum_squares"]
    node = _dense("d", "x", "y", 4, 3)
    assert isinstance(node.attrs, DenseAttrs) and node.attrs.weight.shape == (4, 3)
    assert node.attrs["weight_type"] == F(4, 1) and set(node.attrs) >= {"weight", "bias", "accum_type"}
    with pytest.raises(IRError, match="node 'd': op 'dense' has no attribute.*wieght"):
        Node("d", "dense", ("x",), ("y",), {**node.attrs, "wieght": 1})
    with pytest.raises(IRError, match="unknown op 'conv9'"):
        Graph("g", ("x",), ("y",), {"x": Tensor("x", (2,), X), "y": Tensor("y", (2,), X)},
              (Node("c", "conv9", ("x",), ("y",)),)).validate()


@pytest.mark.unit
def test_core_modules_do_not_branch_on_op_names() -> None:
    out = subprocess.run(["git", "grep", "-nE", r"\bop (==|!=) ['\"]|\bop (not )?in \(", "--", "hwai",
                          ":!hwai/ops", ":!hwai/ir/expr.py", ":!hwai/codegen/expr_context.py",
                          ":!hwai/estimate/rules_expr.py", ":!hwai/frontends/brevitas.py",
                          ":!hwai/frontends/torch_fx.py", ":!hwai/frontends/torch_fx_nodes.py",
                          ":!hwai/frontends/torch_conv.py"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout == "", out.stdout   # (expr instructions and torch.fx node kinds excepted)


@pytest.mark.unit
def test_dense_acts_on_the_last_axis_per_particle() -> None:
    g = particle_graph()
    assert g.tensor("h").shape == (P, N)
    x = np.random.default_rng(1).integers(X.qmin, X.qmax + 1, (200, P, FEAT))
    y = interp.run(g, x)["y"]
    assert y.shape == (200, P, N)
    flat = Graph("one", ("x",), ("y",), {"x": Tensor("x", (FEAT,), X), "h": Tensor("h", (N,), g.tensor("h").type),
                                         "y": Tensor("y", (N,), g.tensor("y").type)},
                 (g.node("phi"), g.node("act"))).validate()
    for p in range(P):  # the same weights on every particle
        assert np.array_equal(y[:, p], interp.run(flat, x[:, p])["y"])
    lo, hi, _ = intervals(g)["y"]
    assert (y.reshape(200, -1) >= lo.astype(np.int64)).all() and (y.reshape(200, -1) <= hi.astype(np.int64)).all()


@pytest.mark.unit
def test_validate_checks_shapes() -> None:
    g = particle_graph()
    bad = g.with_tensor(Tensor("h", (P, N + 1), g.tensor("h").type))
    with pytest.raises(IRError, match="node 'phi': weight shape \\(4, 3\\) does not map input \\(5, 4\\)"):
        bad.validate()
    with pytest.raises(IRError, match="node 'act': elementwise op changes shape"):
        g.with_tensor(Tensor("y", (P * N,), g.tensor("y").type)).validate()


@pytest.mark.unit
def test_emitters_take_rank_2_only_where_the_op_says_so() -> None:
    from hwai.codegen.context import check_rank1

    g = particle_graph()
    assert "firmware/layers/dense_phi.h" in generate(g, Target())   # native HLS loops over the rows
    assert generate_verilog(g)
    with pytest.raises(UnsupportedLayerError, match="node 'phi'.*toy emitter supports only rank-1"):
        check_rank1(g, g.node("phi"), "toy")


@pytest.mark.unit
def test_save_load_round_trip_keeps_shapes_and_typed_attrs(tmp_path) -> None:
    g = particle_graph()
    g.save(tmp_path)
    back = Graph.load(tmp_path)
    assert back.tensor("x").shape == (P, FEAT)
    assert isinstance(back.node("phi").attrs, DenseAttrs)
    assert np.array_equal(back.node("phi").attrs.weight, g.node("phi").attrs.weight)
    x = np.random.default_rng(2).integers(X.qmin, X.qmax + 1, (50, P, FEAT))
    assert np.array_equal(interp.run(back, x)["y"], interp.run(g, x)["y"])


@pytest.mark.unit
def test_ops_declare_their_output_shape() -> None:
    d = _dense("d", "x", "y", FEAT, N)
    assert OPS["dense"].out_shape(d.attrs, (P, FEAT)) == (P, N)
    assert OPS["relu"].out_shape(Node("r", "relu", ("x",), ("y",)).attrs, (P, FEAT)) == (P, FEAT)
    assert OPS["leaky_relu"].out_shape(Node("l", "leaky_relu", ("x",), ("y",), {"shift": 2}).attrs, (7,)) == (7,)
