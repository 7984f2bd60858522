"""hls4ml with ``io_stream``: its stream kernels (Dense, Conv1D/Conv2D with their line buffers,
pooling, global pooling, activations, Reshape) on hwai's exact types equal the golden model on
>= 10,000 vectors (corner vectors included) in hls4ml's C simulation; the layers its stream
passes insert (zero padding before a 'same' Conv, Repack, Clone) only copy codes; settings its
stream kernels assert on are refused in one line (exit 2) before hls4ml runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.codegen.native import golden_outputs
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType
from hwai.sim.vectors import make_vectors
from hwai.target import Target
from tests.backend_checks import hls4ml_mismatches, hls4ml_model
from tests.codegen.test_conv_backends import _Builder, conv1d_design
from tests.data.norm_helpers import pool_graph
from tests.ir.helpers import mlp_graph
from tests.ops.test_global_pool import deepsets

N_VECTORS = 10_000
STREAM = Target(project_name="stream", io_type="io_stream")


def conv2d_pool_design() -> Graph:
    """(6, 6, 2) -> conv 3x3 'same' (3) -> relu -> max pool 2x2 -> flatten -> dense 3."""
    b = _Builder((6, 6, 2), seed=3)
    b.conv("c1", (3, 3), (1, 1), 3)
    b.add("pool", "pool", (3, 3, 3), mode="max", pool_size=(2, 2), stride=(2, 2))
    b.add("flat", "reshape", (27,), target_shape=(27,))
    b.dense("out", 3)
    return b.graph((6, 6, 2))


DESIGNS = {
    # a dense chain whose middle layer has a narrow saturating accumulator (a cast per addition)
    "dense_chain": lambda: mlp_graph((16, 24, 12, 5), seed=2, sparsity=0.3),
    "conv1d": conv1d_design,                    # 'same' k3 s1 + k3 s2 narrow SAT accumulator, flatten, dense
    "conv2d_pool": conv2d_pool_design,
    "deepsets": lambda: deepsets("avg", pool_type=FixedType(7, 3, False, "RND", "SAT")),
}
# hls4ml layers its stream passes add for each design (they must be there: the check below saw them)
INSERTED = {"conv1d": ("zp1d_c1", "zp1d_c2"), "conv2d_pool": ("zp2d_c1",)}


# two designs keep the default tier short (each compile + 10,000-vector run ~20-60 s here); the rest: -m slow
QUICK = ("dense_chain", "deepsets")


@pytest.fixture(scope="module", params=[pytest.param(k, marks=() if k in QUICK else pytest.mark.slow)
                                        for k in sorted(DESIGNS)])
def case(request) -> tuple[str, Graph, np.ndarray, np.ndarray]:
    g = DESIGNS[request.param]()
    x = make_vectors(g, N_VECTORS, seed=11)
    return request.param, g, x, golden_outputs(g, x)


@pytest.mark.csim
def test_hls4ml_io_stream_csim_equals_golden(case, tmp_path: Path) -> None:
    name, g, x, golden = case
    assert len(x) >= N_VECTORS and len(np.unique(golden, axis=0)) > 100   # outputs vary: it can fail
    hls_model = hls4ml_model(g, STREAM, x, tmp_path)
    assert hls_model.config.get_config_value("IOType") == "io_stream"
    assert all(n in hls_model.graph for n in INSERTED.get(name, ()))
    assert hls4ml_mismatches(g, hls_model, x, golden) == 0


@pytest.mark.unit
def test_stream_copies_must_keep_the_type() -> None:
    """An inserted layer is accepted only while its output type is its input's (no cast)."""
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import _stream_copy

    class _Var:
        def __init__(self, p: str) -> None:
            self.type = type("T", (), {"precision": p})()

    def layer(cls: str, src: str, out: str):
        return type(cls, (), {"get_input_variable": lambda self: _Var(src),
                              "get_output_variable": lambda self: _Var(out)})()

    assert _stream_copy(layer("ZeroPadding1D", "fixed<8,3>", "fixed<8,3>"))
    assert not _stream_copy(layer("ZeroPadding1D", "fixed<8,3>", "fixed<6,3>"))
    assert not _stream_copy(layer("Dense", "fixed<8,3>", "fixed<8,3>"))


@pytest.mark.unit
def test_2d_pooling_with_another_stride_is_refused_for_io_stream(tmp_path: Path) -> None:
    """hls4ml's pooling2d_cl stream kernel asserts pool == stride (an abort in its C-sim)."""
    pytest.importorskip("hls4ml")
    from hwai.codegen.hls4ml_bridge import check_io_type, plan_layers, to_hls4ml
    from hwai.errors import UnsupportedLayerError

    g = pool_graph((5, 5, 2), "max", (3, 2), (2, 1))
    with pytest.raises(UnsupportedLayerError) as err:
        to_hls4ml(g, tmp_path / "hls", STREAM, vectors=make_vectors(g, 10, seed=0))
    assert str(err.value) == ("node 'pool': hls4ml streams 2-D pooling only with stride equal to the pool size "
                              "(pool (3, 2), stride (2, 1)); set target.io_type: io_parallel or use the native backend")
    assert err.value.exit_code == 2
    assert not (tmp_path / "hls").exists()              # refused before hls4ml wrote anything
    check_io_type(plan_layers(g), Target(io_type="io_parallel"), g)   # io_parallel takes it


@pytest.mark.unit
def test_recipe_target_io_type_takes_io_stream() -> None:
    from hwai.errors import RecipeError
    from hwai.recipe.schema import recipe_from_dict

    base = {"name": "t", "model": {"arch": "jet_mlp"}, "data": {"source": "d.npz"}, "steps": ["train"]}
    r = recipe_from_dict({**base, "target": {"io_type": "io_stream"}}, Path("r.yaml"))
    assert r.target["io_type"] == "io_stream"
    with pytest.raises(RecipeError, match="r.yaml: target.io_type: .*io_parallel.*io_stream") as err:
        recipe_from_dict({**base, "target": {"io_type": "io_serial"}}, Path("r.yaml"))
    assert err.value.exit_code == 2
