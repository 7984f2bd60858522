"""Brevitas frontend: exact integer equality with the golden model, and clear refusals."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
qnn = pytest.importorskip("brevitas.nn")

from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu  # noqa: E402
from hwai.errors import UnsupportedLayerError  # noqa: E402
from hwai.frontends.brevitas import check_supported, lower_brevitas, module_chain, reference_codes  # noqa: E402
from hwai.ir import interp  # noqa: E402
from hwai.ir.types import FixedType  # noqa: E402

N_VECTORS = 12_000


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def vectors(n: int = N_VECTORS, seed: int = 1) -> np.ndarray:
    """Gaussian inputs plus the hard cases: exact rounding ties and saturating values."""
    r = np.random.default_rng(seed)
    x = r.normal(scale=2.0, size=(n, 16)).astype(np.float32)
    x[:1000] = (np.round(x[:1000] * 1024) + 0.5) / 1024        # half-LSB ties of ap_fixed<16,6>
    x[1000:1500] *= 40                                          # beyond +-32: input saturates
    return x


def assert_exact(model, graph, x) -> None:
    gold = interp.run(graph, graph.tensor(graph.inputs[0]).type.from_float(x))[graph.outputs[0]]
    ref = reference_codes(model, graph, x)
    mismatches = int((ref != gold).any(axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(x)} vectors differ"
    np.testing.assert_array_equal(ref, gold)


def seq(*layers) -> torch.nn.Sequential:
    return torch.nn.Sequential(OrderedDict(layers)).eval()


def jet_qat(bits: int = 6, seed: int = 0) -> torch.nn.Sequential:
    """The engine's QAT jet MLP with random weights, ~50% of them zeroed (as after pruning)."""
    torch.manual_seed(seed)
    w = {"bits": bits, "integer": 0}
    m = seq(("input_quant", quant_identity(16, 6)),
            ("fc1", quant_linear(16, 64, True, w, w)), ("relu1", quant_relu(bits, 0)),
            ("fc2", quant_linear(64, 32, True, w, w)), ("relu2", quant_relu(bits, 0)),
            ("fc3", quant_linear(32, 32, True, w, w)), ("relu3", quant_relu(bits, 0)),
            ("output", quant_linear(32, 5, True, w, w)))
    with torch.no_grad():
        for mod in m:
            if hasattr(mod, "weight"):
                mod.weight.mul_(torch.rand_like(mod.weight) > 0.5)
    return m


def test_jet_qat_exact_on_12k_vectors() -> None:
    m = jet_qat()
    g = lower_brevitas(m, name="jet")
    assert [n.op for n in g.nodes] == ["dense", "relu"] * 3 + ["dense"]
    assert str(g.tensor("input_1").type) == "fixed<16,6,RND_CONV,SAT>"
    assert str(g.tensor("relu2").type) == "ufixed<6,0,RND_CONV,SAT>"
    assert g.node("fc1").attrs["weight_type"] == FixedType(6, 1)
    assert_exact(m, g, vectors())


def test_float32_torch_is_not_exact_but_float64_is() -> None:
    """Why reference_codes runs the model in float64: 16-bit activations x 16-bit weights
    summed over 64 inputs need ~38 bits, more than float32's 24-bit mantissa."""
    torch.manual_seed(0)
    w = {"bits": 16, "integer": 1}
    m = seq(("inp", quant_identity(16, 6)), ("fc1", quant_linear(16, 64, True, w, w)),
            ("relu1", quant_relu(16, 6)), ("fc2", quant_linear(64, 5, True, w, w)))
    g = lower_brevitas(m)
    x = vectors()
    assert_exact(m, g, x)
    gold = interp.run(g, g.tensor("input_1").type.from_float(x))[g.outputs[0]]
    with torch.no_grad():
        y32 = m(torch.as_tensor(x)).numpy().astype(np.float64)
    c32 = np.round(np.ldexp(y32, g.tensor(g.outputs[0]).type.frac))
    assert (c32 != gold).any(axis=1).mean() > 0.2  # measured: 43.5% of these rows differ in float32


def test_brevitas_own_fixed_point_quantizers_exact() -> None:
    """Learned/statistics power-of-two scales, Int32Bias (scale = in*w), per-channel weights,
    a narrow signed activation (SAT_SYM) and a signed QuantReLU."""
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int32Bias,
                                Uint8ActPerTensorFixedPoint)
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

    torch.manual_seed(0)
    m = seq(("inp", qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=10,
                                      return_quant_tensor=True)),
            ("fc1", qnn.QuantLinear(16, 24, bias=True, weight_quant=Int8WeightPerChannelFixedPoint,
                                    weight_bit_width=5, bias_quant=Int32Bias)),
            ("relu1", qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=5,
                                    return_quant_tensor=True)),
            ("fc2", qnn.QuantLinear(24, 12, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                    bias_quant=Int32Bias)),
            ("mid", qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=6,
                                      narrow_range=True, return_quant_tensor=True)),
            ("fc3", qnn.QuantLinear(12, 5, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                    bias_quant=Int32Bias)))
    m.train()
    with torch.no_grad():  # let the runtime-statistics scales settle on some data
        for _ in range(5):
            m(torch.randn(256, 16) * 2)
    m.eval()
    g = lower_brevitas(m)
    assert g.tensor("mid").type.overflow == "SAT_SYM"
    assert g.node("fc1").attrs["weight_type"].width >= 5  # per-channel grids merged
    assert_exact(m, g, vectors())


def test_explicit_input_type_adds_a_quant_node() -> None:
    m = jet_qat()
    g = lower_brevitas(m, input_type=FixedType(18, 6, True, "RND_CONV", "SAT"))
    assert g.nodes[0].op == "quant" and str(g.tensor(g.nodes[0].outputs[0]).type) == "fixed<16,6,RND_CONV,SAT>"
    assert lower_brevitas(m, input_type=FixedType(16, 6, True, "RND_CONV", "SAT")).nodes[0].op == "dense"


def test_float_model_uses_default_types() -> None:
    torch.manual_seed(0)
    m = seq(("fc1", torch.nn.Linear(16, 8)), ("relu1", torch.nn.ReLU()), ("drop", torch.nn.Dropout(0.1)),
            ("out", torch.nn.Linear(8, 5)), ("softmax", torch.nn.Softmax(dim=1)))
    g = lower_brevitas(m)
    assert g.meta["inexact"] == ["fc1", "out"]
    assert g.node("fc1").attrs["weight_type"] == FixedType(16, 6, True, "RND_CONV", "SAT")
    x = vectors(500)
    with torch.no_grad():
        logits = m[:-1](torch.as_tensor(x)).numpy()
    golden = interp.run_float(g, x)
    assert (golden.argmax(1) == logits.argmax(1)).mean() > 0.97


def test_fx_traced_functional_chain() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(16, 8), torch.nn.Linear(8, 5)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    names = [(n, type(mod).__name__) for n, mod in module_chain(Net())]
    assert names == [("a", "Linear"), ("relu", "ReLU"), ("b", "Linear")]


# --- refusals: one line, naming the layer ------------------------------------------------------

@pytest.mark.parametrize("bad", ["conv", "lstm"])
def test_unsupported_layer_named(bad: str) -> None:
    layer = torch.nn.Conv1d(1, 1, 3) if bad == "conv" else torch.nn.LSTM(8, 8)
    m = seq(("fc1", torch.nn.Linear(16, 8)), ("weird", layer), ("out", torch.nn.Linear(8, 5)))
    with pytest.raises(UnsupportedLayerError) as err:
        check_supported(m)
    msg = str(err.value)
    assert "'weird'" in msg and type(layer).__name__ in msg and "\n" not in msg
    with pytest.raises(UnsupportedLayerError):
        lower_brevitas(m)


def test_residual_forward_is_refused() -> None:
    class Res(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(16, 16)

        def forward(self, x):
            return self.a(x) + x

    with pytest.raises(UnsupportedLayerError, match="'add'.*not supported"):
        check_supported(Res())


def test_non_power_of_two_scale_refused() -> None:
    from brevitas.quant import Int8WeightPerTensorFloat

    torch.manual_seed(0)
    m = seq(("inp", quant_identity(16, 6)),
            ("fc1", qnn.QuantLinear(16, 5, bias=False, weight_quant=Int8WeightPerTensorFloat)))
    with pytest.raises(UnsupportedLayerError) as err:
        lower_brevitas(m)
    msg = str(err.value)
    assert "'fc1'" in msg and "not a power of two" in msg and "\n" not in msg
    scale = float(m.fc1.quant_weight().scale.detach())
    assert repr(scale)[:6] in msg


# --- C simulation through hls4ml ---------------------------------------------------------------

@pytest.mark.csim
@pytest.mark.slow
def test_hls4ml_csim_of_torch_lowered_ir_is_exact(tmp_path: Path) -> None:
    bridge = pytest.importorskip("hwai.codegen.hls4ml_bridge")
    from hwai.errors import require_tool
    from hwai.sim.hls4ml_csim import csim_hls4ml
    from hwai.target import Target

    require_tool("g++", "apt-get install g++")
    m = jet_qat()
    g = lower_brevitas(m, name="jet_torch")
    x = vectors(10_000)
    codes = g.tensor("input_1").type.from_float(x)
    gold = interp.run(g, codes)[g.outputs[0]]
    hls_model = bridge.to_hls4ml(g, tmp_path / "prj", Target(), codes[:1000])
    bridge.compile_hls4ml(hls_model)
    np.testing.assert_array_equal(csim_hls4ml(g, hls_model, codes), gold)
    np.testing.assert_array_equal(reference_codes(m, g, x), gold)
