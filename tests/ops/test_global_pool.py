"""global_pool (sum | avg | max over the particle axis): golden semantics, and every backend equal
to the golden model on >= 10,000 vectors (a Deep Sets: phi -> pool -> rho)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import generate, golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph, IRError, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    hls4ml_mismatches,
    hls4ml_model,
    mismatches,
    needs,
    verilator_mismatches,
)
from tests.data.norm_helpers import _dense
from tests.data.particle_helpers import ACT, INPUT

P, F, H, OUT = 8, 4, 6, 3
N_VECTORS = 10_000
TARGET = Target(project_name="deepsets")


def deepsets(mode: str, p: int = P, seed: int = 0, pool_type: FixedType | None = None) -> Graph:
    """phi (per-particle dense 4->6, relu) -> global_pool(mode) -> rho (dense 6->3)."""
    rng = np.random.default_rng(seed)
    wt = FixedType(6, 1)

    def dense(name: str, src: str, n_in: int, n_out: int, shape: tuple[int, ...]) -> tuple[Node, Tensor]:
        w = rng.integers(wt.qmin, wt.qmax + 1, (n_in, n_out))
        return (Node(name, "dense", (src,), (f"{name}_out",), {"weight": w, "weight_type": wt,
                "bias": rng.integers(wt.qmin, wt.qmax + 1, n_out), "bias_type": wt}), Tensor(f"{name}_out", shape))

    layers = [dense("phi", "x", F, H, (p, H)),
              (Node("relu", "relu", ("phi_out",), ("relu_out",)), Tensor("relu_out", (p, H), ACT)),
              (Node("pool", "global_pool", ("relu_out",), ("pool_out",), {"mode": mode}),
               Tensor("pool_out", (H,), pool_type)),
              dense("rho", "pool_out", H, OUT, (OUT,))]
    return infer_precision(chain("ds", Tensor("x", (p, F), INPUT), layers)).validate()


@pytest.fixture(scope="module", params=["sum", "avg", "max"])
def case(request) -> tuple[Graph, np.ndarray, np.ndarray]:
    # avg into a narrower RND/SAT type: the output cast rounds and saturates
    pool_t = FixedType(7, 3, False, "RND", "SAT") if request.param == "avg" else None
    g = deepsets(request.param, pool_type=pool_t)
    x = make_vectors(g, N_VECTORS, seed=5)
    return g, x, golden_outputs(g, x)




@pytest.mark.unit
def test_golden_semantics_against_numpy(case) -> None:
    g, x, _ = case
    trace = interp.run_reference(g, x[:2000], trace=True)
    t_in, t_out = g.tensor("relu_out").type, g.tensor("pool_out").type
    v = t_in.to_float(np.asarray(trace["relu_out"]).reshape(-1, P, H))
    mode = g.node("pool").attrs.mode
    want = {"sum": v.sum(axis=1), "avg": v.mean(axis=1), "max": v.max(axis=1)}[mode]
    assert (np.asarray(trace["pool_out"]) == t_out.from_float(want)).all()   # exact pre-value, one cast
    assert g.node("pool").attrs.accum_type is not None
    assert (interp.run(g, x)["rho_out"] == interp.run_reference(g, x)["rho_out"]).all()


@pytest.mark.unit
def test_average_needs_a_power_of_two_count() -> None:
    with pytest.raises(IRError, match="node 'pool': average pooling over 6 particles needs a power-of-two"):
        deepsets("avg", p=6)


@pytest.mark.unit
def test_estimate_counts_the_tree(case) -> None:
    from hwai.estimate import estimate

    g = case[0]
    assert estimate(g, Target()).per_node["pool"].lut > 0


@pytest.mark.csim
def test_native_apfixed_and_int_csim_equal_golden(case, tmp_path: Path) -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    needs("g++")
    from hwai.sim.fast_csim import csim_fast
    from hwai.sim.native_csim import csim_native

    g, x, golden = case
    assert mismatches(csim_native(g, generate(g, TARGET), x), golden) == 0
    assert mismatches(csim_fast(g, x), golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert verilator_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert hls4ml_mismatches(g, hls4ml_model(g, TARGET, x, tmp_path), x, golden) == 0


# --- hls4ml sum pooling: Reshape to (P·C,) + a Dense of stacked identities (global_pool.py) ---

SUM_NARROW = FixedType(6, 4, False, "RND", "SAT")   # rounds 3 fraction bits away, saturates at 15.75


def summed(shape: tuple[int, ...], pool_type: FixedType | None) -> Graph:
    """(P, F) or (H, W, F) -> per-position dense F->H -> relu -> global sum pool, the graph's
    output (hls4ml would drop a Reshape there: the op must end in its Dense)."""
    rng = np.random.default_rng(4)
    h = shape[:-1] + (H,)
    layers = [_dense(rng, "phi", "x", shape[-1], H, h),
              (Node("relu", "relu", ("phi_out",), ("relu_out",)), Tensor("relu_out", h, ACT)),
              (Node("pool", "global_pool", ("relu_out",), ("pool_out",), {"mode": "sum"}),
               Tensor("pool_out", (H,), pool_type))]
    return infer_precision(chain("sum", Tensor("x", shape, INPUT), layers)).validate()


@pytest.mark.csim
@pytest.mark.parametrize("shape,io_type", [((P, F), "io_parallel"), ((2, 4, F), "io_parallel"),
                                           ((P, F), "io_stream")])
def test_hls4ml_sum_pool_into_a_narrow_type_equals_golden(shape, io_type: str, tmp_path: Path) -> None:
    g = summed(shape, SUM_NARROW)
    x = make_vectors(g, N_VECTORS, seed=6)
    golden = golden_outputs(g, x)
    pre = np.asarray(interp.run_reference(g, x, trace=True)["relu_out"]).reshape(len(x), -1, H).sum(axis=1)
    assert (golden == SUM_NARROW.qmax).mean() > 0.01 and (pre % 8 != 0).mean() > 0.5   # it saturates and rounds
    hls_model = hls4ml_model(g, Target(project_name="sumpool", io_type=io_type), x, tmp_path)
    from hls4ml.model.layers import Dense, Reshape

    assert isinstance(hls_model.graph["pool"], Dense) and isinstance(hls_model.graph["pool_flat"], Reshape)
    assert hls4ml_mismatches(g, hls_model, x, golden) == 0


@pytest.mark.csim
def test_hls4ml_brevitas_deepsets_with_sum_pooling_equals_golden(tmp_path: Path) -> None:
    """A Brevitas Deep Sets (torch.sum over the particles) lowered by torch.fx, through the bridge."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from hwai.frontends.torch_fx import lower_torch
    from tests.frontends.test_torch_fx import DeepSets
    from tests.frontends.test_torch_fx import F as TF
    from tests.frontends.test_torch_fx import P as TP

    torch.manual_seed(2)
    g = lower_torch(DeepSets("sum").eval(), input_shapes=[(TP, TF)])
    assert [n.attrs.mode for n in g.nodes if n.op == "global_pool"] == ["sum"]
    x = make_vectors(g, N_VECTORS, seed=7)
    golden = golden_outputs(g, x)
    assert hls4ml_mismatches(g, hls4ml_model(g, TARGET, x, tmp_path), x, golden) == 0
