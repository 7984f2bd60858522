"""Convolutions (``patches`` + per-window ``dense``) and ``reshape`` in every backend: the native
ap_fixed and int64 C simulations, Verilator on hwai's Verilog and hls4ml's C simulation (its own
Conv1D/Conv2D) equal the golden model on >= 10,000 vectors, with 'same' padding, strides 1 and 2,
and a narrow saturating accumulator (a cast after every product and addition)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import golden_outputs
from hwai.ir import interp
from hwai.ir.graph import Graph, Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.ir.windows import same_padding
from hwai.ops.patches import PatchesAttrs, out_spatial
from hwai.passes.precision import infer_precision
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import (
    hls4ml_mismatches,
    hls4ml_model,
    native_apfixed_mismatches,
    native_int_mismatches,
    verilator_mismatches,
)

N_VECTORS = 10_000
TARGET = Target(project_name="conv")
INPUT = FixedType(8, 3, True, "RND_CONV", "SAT")
ACT = FixedType(6, 2, False, "RND_CONV", "SAT")
WT = FixedType(6, 1)


class _Builder:
    """A chain of IR layers over a shaped input (random on-grid weights, 30 % zeros)."""

    def __init__(self, shape: tuple[int, ...], seed: int) -> None:
        self.rng, self.shape, self.prev, self.layers = np.random.default_rng(seed), shape, "x", []

    def add(self, name: str, op: str, shape: tuple[int, ...], ftype: FixedType | None = None, **attrs) -> None:
        self.layers.append((Node(name, op, (self.prev,), (name,), attrs), Tensor(name, shape, ftype)))
        self.prev, self.shape = name, shape

    def conv(self, name: str, kernel: tuple[int, ...], strides: tuple[int, ...], filters: int,
             accum: FixedType | None = None) -> None:
        pads = [same_padding(n, k, s) for n, k, s in zip(self.shape[:-1], kernel, strides)]
        a = {"kernel": kernel, "strides": strides, "pad_before": tuple(p[0] for p in pads),
             "pad_after": tuple(p[1] for p in pads), "in_shape": self.shape}
        window = int(np.prod(kernel)) * self.shape[-1]
        spatial = out_spatial(PatchesAttrs(**a), self.shape[:-1])
        self.add(f"{name}_patches", "patches", spatial + (window,), **a)
        self.dense(name, filters, accum)
        self.add(f"{name}_relu", "relu", self.shape, ACT)

    def dense(self, name: str, n_out: int, accum: FixedType | None = None) -> None:
        w = self.rng.integers(WT.qmin, WT.qmax + 1, (self.shape[-1], n_out))
        w[self.rng.random(w.shape) < 0.3] = 0
        b = self.rng.integers(WT.qmin, WT.qmax + 1, n_out)
        self.add(name, "dense", self.shape[:-1] + (n_out,), weight=w, weight_type=WT, bias=b, bias_type=WT,
                 accum_type=accum)

    def graph(self, input_shape: tuple[int, ...]) -> Graph:
        return infer_precision(chain("conv", Tensor("x", input_shape, INPUT), self.layers)).validate()


def conv1d_design() -> Graph:
    """(8, 3) -> conv k3 s1 'same' (4) -> conv k3 s2 'same' (3), narrow SAT accumulator -> flatten -> dense 3."""
    b = _Builder((8, 3), seed=0)
    b.conv("c1", (3,), (1,), 4)
    b.conv("c2", (3,), (2,), 3, accum=FixedType(9, 4, True, "RND", "SAT"))
    b.add("flat", "reshape", (12,), target_shape=(12,))
    b.dense("out", 3)
    return b.graph((8, 3))


def conv2d_design() -> Graph:
    """(5, 6, 2) -> conv (3, 2) strides (2, 1) 'same' (3) -> conv (2, 2) 'valid' (2) -> flatten -> dense 3."""
    b = _Builder((5, 6, 2), seed=1)
    b.conv("c1", (3, 2), (2, 1), 3)
    b.layers.append((Node("c2_patches", "patches", (b.prev,), ("c2_patches",),
                          {"kernel": (2, 2), "strides": (1, 1), "pad_before": (0, 0), "pad_after": (0, 0),
                           "in_shape": b.shape}),
                     Tensor("c2_patches", (2, 5, 12))))
    b.prev, b.shape = "c2_patches", (2, 5, 12)
    b.dense("c2", 2)
    b.add("c2_relu", "relu", b.shape, ACT)
    b.add("flat", "reshape", (20,), target_shape=(20,))
    b.dense("out", 3)
    return b.graph((5, 6, 2))


@pytest.fixture(scope="module", params=["conv1d", "conv2d"])
def case(request) -> tuple[Graph, np.ndarray, np.ndarray]:
    g = conv1d_design() if request.param == "conv1d" else conv2d_design()
    x = make_vectors(g, N_VECTORS, seed=5)
    return g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_golden_fast_path_equals_reference(case) -> None:
    g, x, golden = case
    assert (interp.run_reference(g, x)[g.outputs[0]].reshape(len(x), -1) == golden).all()
    assert len(np.unique(golden, axis=0)) > 1000     # outputs vary: the comparisons can fail


@pytest.mark.unit
def test_corner_vectors_reach_every_conv_position(case) -> None:
    """The windows pass the linearized map on: two corner vectors per (position, filter) of each conv."""
    from hwai.sim.vectors import corner_vectors

    g, x, _ = case
    n = len(corner_vectors(g))
    assert n >= 2 * (g.tensor("c1").size + g.tensor("c2").size)
    assert (x[:n] == corner_vectors(g)).all()


@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert native_apfixed_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_native_int_csim_equals_golden(case) -> None:
    g, x, golden = case
    assert native_int_mismatches(g, x, golden) == 0


@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    g, x, golden = case
    assert verilator_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    """patches + dense become one hls4ml Conv1D/Conv2D; its precisions are set and checked."""
    g, x, golden = case
    hls_model = hls4ml_model(g, TARGET, x, tmp_path)
    rank = len(g.node("c1_patches").attrs.kernel)
    assert type(hls_model.graph["c1"]).__name__.endswith(f"Conv{rank}D")
    assert "c1_patches" not in hls_model.graph
    assert hls4ml_mismatches(g, hls_model, x, golden) == 0


@pytest.mark.unit
def test_hls4ml_refuses_windows_not_read_by_a_dense(tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import plan_layers
    from hwai.errors import UnsupportedLayerError

    b = _Builder((8, 3), seed=0)
    b.add("w", "patches", (6, 9), kernel=(3,), strides=(1,), pad_before=(0,), pad_after=(0,),
          in_shape=(8, 3))
    b.add("r", "relu", (6, 9), ACT)
    with pytest.raises(UnsupportedLayerError, match="node 'w': hls4ml builds patches only as the input of one dense"):
        plan_layers(b.graph((8, 3)))
