"""The op registry moved code, it did not change numbers: golden outputs, estimates and
every emitted file of these graphs equal what the pre-registry tree produced
(``data/reference.json``, written by main before the refactor)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hwai.codegen.native import default_vectors, generate, golden_outputs
from hwai.codegen.native_int import generate_int
from hwai.codegen.verilog import generate_verilog
from hwai.estimate import designs
from hwai.estimate.cost import estimate
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType as F
from hwai.target import Target
from tests.codegen.test_native import coverage_graph

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference.json").read_text())
MLPS = [((16, 32, 8, 5), 8, 6, 0.0, None), ((16, 64, 32, 5), 10, 4, 0.5, None),
        ((8, 12, 4), 6, 8, 0.8, F(6, 2, True, "RND_CONV", "WRAP")),
        ((10, 20, 3), 12, 3, 0.3, F(7, 3, False, "TRN", "SAT_SYM"))]


def graphs() -> dict[str, Graph]:
    out = {f"mlp_{'x'.join(map(str, s))}_x{xb}w{wb}s{sp}":
           designs.mlp_graph(s, x_bits=xb, w_bits=wb, sparsity=sp, seed=1, act_type=act)
           for s, xb, wb, sp, act in MLPS}
    out["dense_16x8"] = designs.dense_graph(16, 8, 8, 6, 0.5, seed=3)
    out["coverage"] = coverage_graph(0)
    return out


def _digests(make) -> dict[str, str] | str:
    try:
        fs = make()
    except Exception as err:  # the reference records which backends refuse a graph, and how
        return f"error: {type(err).__name__}: {err}"
    return {k: hashlib.sha256(fs[k]).hexdigest()[:16] for k in sorted(fs)}


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_same_golden_estimate_and_sources_as_before_the_registry(name: str) -> None:
    g, t, ref = graphs()[name], Target(), REFERENCE[name]
    v = default_vectors(g, 500)
    assert hashlib.sha256(golden_outputs(g, v).tobytes()).hexdigest() == ref["golden"]
    assert estimate(g, t).to_dict() == ref["estimate"]
    assert _digests(lambda: generate(g, t, v)) == ref["native"]
    assert _digests(lambda: generate_int(g, t)) == ref["native_int"]
    assert _digests(lambda: generate_verilog(g, t)) == ref["verilog"]
