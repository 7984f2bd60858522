"""One naming module: C, Verilog and hls4ml identifiers from any IR name."""

import re
import shutil

import numpy as np
import pytest

from hwai.names import C_KEYWORDS, VERILOG_KEYWORDS, fresh, hls4ml_renames, identifier, unique_identifiers

VERILOG_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


@pytest.mark.unit
@pytest.mark.parametrize("lang,keywords", [("c", C_KEYWORDS), ("verilog", VERILOG_KEYWORDS)])
def test_identifiers_are_valid(lang: str, keywords: frozenset) -> None:
    for name in ["0", "1.weight", "fc-1", "", "a b", "output", "int", "module", "reg", "fc1", "_x"]:
        s = identifier(name, lang)
        assert VERILOG_ID.match(s) and s not in keywords, (name, s)
    assert identifier("fc1", lang) == "fc1" and identifier("0", lang) == "n_0"
    assert identifier("layers.0", lang) == "layers_0"


@pytest.mark.unit
def test_keywords_per_language_and_collisions_are_deterministic() -> None:
    assert identifier("wire", "verilog") == "wire_" and identifier("wire", "c") == "wire"
    assert identifier("class", "c") == "class_" and identifier("logic", "verilog") == "logic_"
    assert unique_identifiers(["a.b", "a_b", "a-b", "a.b"]) == {"a.b": "a_b", "a_b": "a_b_1", "a-b": "a_b_2"}
    assert unique_identifiers(["x"], taken={"x"}) == {"x": "x_1"}
    assert fresh("n.0", {"n_0", "n_0_1"}) == "n_0_2"
    assert hls4ml_renames(["input", "fc1"]) == {"input": "input_0"}


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (apt-get install -y iverilog)")
def test_unnamed_sequential_brevitas_model_compiles_and_is_exact(tmp_path) -> None:
    """The bug: an unnamed nn.Sequential lowers to nodes '0', '1', ...; the Verilog had
    '0_0_acc' and iverilog rejected it. Now it compiles and simulates exactly."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from hwai.codegen.verilog import generate_verilog
    from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu
    from hwai.frontends.brevitas import lower_brevitas
    from hwai.sim.rtl import compare_with_golden

    torch.manual_seed(0)
    w = {"bits": 4, "integer": 0}
    model = torch.nn.Sequential(quant_identity(8, 3), quant_linear(6, 5, True, w, w), quant_relu(4, 1),
                                quant_linear(5, 3, True, w, w)).eval()
    g = lower_brevitas(model, name="0seq")
    assert g.nodes[0].name[0].isdigit()
    files = generate_verilog(g)
    text = "\n".join(files[p].decode() for p in files if p.endswith(".v"))
    assert not re.search(r"\bwire\s+(signed\s+)?(\[[^]]*\]\s*)?\d", text)   # no identifier starts with a digit
    tin = g.tensor(g.inputs[0]).type
    x = np.random.default_rng(1).integers(tin.qmin, tin.qmax + 1, size=(500, 6))
    compare_with_golden(g, files, x, "iverilog", workdir=tmp_path / "rtl")


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed (apt-get install -y iverilog)")
def test_names_colliding_after_cleaning_stay_distinct_in_verilog(tmp_path) -> None:
    """'a.b' and 'a_b' both clean to 'a_b': the second becomes 'a_b_1', and it simulates."""
    from hwai.codegen.verilog import generate_verilog
    from hwai.codegen.verilog_context import distinct_prefixes
    from hwai.ir.graph import Node, Tensor, chain
    from hwai.ir.types import FixedType
    from hwai.sim.rtl import compare_with_golden

    t = FixedType(6, 3)
    g = chain("wire", Tensor("in.x", (2,), t), [
        (Node("a.b", "relu", ("in.x",), ("a.b",)), Tensor("a.b", (2,), FixedType(6, 3, False))),
        (Node("a_b", "quant", ("a.b",), ("a_b",)), Tensor("a_b", (2,), FixedType(4, 2, True, "RND", "SAT")))])
    safe = distinct_prefixes(g)
    assert [n.name for n in safe.nodes] == ["a_b", "a_b_1"] and safe.outputs == ("a_b_1",)
    x = np.arange(t.qmin, t.qmax + 1).reshape(-1, 2)
    compare_with_golden(g, generate_verilog(g), x, "iverilog", workdir=tmp_path / "rtl")
