"""The Brevitas Conv1d and Conv2d modules of test_torch_conv.py, lowered through torch.fx, on every
backend: torch's forward, the native int64 and ap_fixed C simulations, hls4ml's C simulation (its own
Conv1D/Conv2D, pooling) and Verilator on hwai's Verilog all equal the golden model on 10,000 vectors,
corner vectors first. The torch forward and the int64 C-sim run in the default tier; the ap_fixed,
hls4ml and Verilator builds are slow (the same ops' default-tier checks: tests/codegen/test_conv_backends.py,
test_norm_pool_backends.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.target import Target
from tests.backend_checks import (
    hls4ml_mismatches,
    hls4ml_model,
    native_apfixed_mismatches,
    native_int_mismatches,
    verilator_mismatches,
)

pytest.importorskip("torch")
pytest.importorskip("brevitas")

N_VECTORS = 10_000
TARGET = Target(project_name="torch_conv")


@pytest.fixture(scope="module", params=["conv1d", "conv2d"])
def case(request):
    from hwai.codegen.native import golden_outputs
    from hwai.sim.vectors import corner_vectors, make_vectors
    from tests.frontends.test_torch_conv import conv1d_case, conv2d_case, lower

    model, shapes = conv1d_case() if request.param == "conv1d" else conv2d_case()
    g = lower(model, shapes)
    x = make_vectors(g, N_VECTORS, seed=5)
    corners = corner_vectors(g)   # two per (position, filter) of the first conv at least, leading the vectors
    assert len(corners) >= 2 * g.tensor("c1").size and (x[:len(corners)] == corners).all()
    return model, g, x, golden_outputs(g, x)


@pytest.mark.unit
def test_torch_forward_equals_golden_on_every_vector(case) -> None:
    from hwai.frontends.brevitas import reference_outputs

    model, g, x, golden = case
    t = g.tensor(g.inputs[0])
    real = t.type.to_float(x).reshape((len(x),) + t.shape)
    if g.meta.get("channels_first_inputs"):
        real = np.ascontiguousarray(np.moveaxis(real, -1, 1))
    assert (reference_outputs(model, g, [real])[0] == golden).all()
    assert len(np.unique(golden, axis=0)) > 1000


@pytest.mark.csim
def test_native_int_csim_equals_golden(case) -> None:
    _, g, x, golden = case
    assert native_int_mismatches(g, x, golden) == 0


@pytest.mark.slow   # 1.5-6 min each on the loaded 2-core machine (g++ / hls4ml / Verilator builds)
@pytest.mark.csim
def test_native_apfixed_csim_equals_golden(case, tmp_path: Path) -> None:
    _, g, x, golden = case
    assert native_apfixed_mismatches(g, TARGET, x, golden, tmp_path) == 0


@pytest.mark.slow   # 1.5-6 min each on the loaded 2-core machine (g++ / hls4ml / Verilator builds)
@pytest.mark.csim
def test_hls4ml_csim_equals_golden(case, tmp_path: Path) -> None:
    _, g, x, golden = case
    hls_model = hls4ml_model(g, TARGET, x, tmp_path)
    rank = len(g.node("c1_patches").attrs.kernel)
    assert type(hls_model.graph["c1"]).__name__.endswith(f"Conv{rank}D")
    assert hls4ml_mismatches(g, hls_model, x, golden) == 0


@pytest.mark.slow   # 1.5-6 min each on the loaded 2-core machine (g++ / hls4ml / Verilator builds)
@pytest.mark.rtl
def test_verilator_equals_golden(case, tmp_path: Path) -> None:
    _, g, x, golden = case
    assert verilator_mismatches(g, TARGET, x, golden, tmp_path) == 0
