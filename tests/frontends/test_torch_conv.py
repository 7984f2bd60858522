"""torch/Brevitas convolutions through the torch.fx frontend (hwai/frontends/torch_conv.py).

Small modules built here: Conv1d (stride 2 with symmetric padding, 'same', MaxPool1d, flatten ->
Linear in torch's C-major order) and Conv2d (channels-first input, AvgPool2d, stride (2, 1)) with
Brevitas quantizers, exact against torch's forward pass; a float Conv1d + BatchNorm1d (folded) +
AvgPool1d + mean; one-line refusals (exit 2) for what is not lowered."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.errors import UnsupportedLayerError

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
nn = torch.nn

W6 = {"bits": 6, "integer": 0}
B8 = {"bits": 8, "integer": 2}


def qconv(cls_name: str, cin: int, cout: int, k, **kw):
    """A Brevitas QuantConv with hwai's power-of-two QAT quantizers (6-bit weights, 8-bit bias)."""
    from hwai.engines.torch.quantize import quant_conv

    return quant_conv(getattr(nn, cls_name)(cin, cout, k, **kw), W6, B8)


class Conv1dNet(nn.Module):
    """(N, 32, 8) channels-last -> transpose -> conv s2 p1 -> relu -> maxpool 2 -> conv 'same' -> relu
    -> flatten -> Linear 5 (Brevitas throughout)."""

    def __init__(self) -> None:
        super().__init__()
        from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu

        self.inp = quant_identity(10, 4)
        self.c1 = qconv("Conv1d", 8, 6, 3, stride=2, padding=1)
        self.r1 = quant_relu(6, 2)
        self.pool = nn.MaxPool1d(2)
        self.c2 = qconv("Conv1d", 6, 4, 3, padding="same")
        self.r2 = quant_relu(6, 2)
        self.fc = quant_linear(32, 5, True, W6, B8)

    def forward(self, x):
        x = self.inp(x).transpose(1, 2)
        x = self.r2(self.c2(self.pool(self.r1(self.c1(x)))))
        return self.fc(torch.flatten(x, 1))


class Conv2dNet(nn.Module):
    """(N, 2, 6, 5) channels-first -> conv (3, 2) stride (2, 1) pad (1, 0) -> relu -> avgpool 2x2 -> conv
    'same' 3x3 -> relu -> view(N, -1) -> Linear 3."""

    def __init__(self) -> None:
        super().__init__()
        from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu

        self.inp = quant_identity(8, 3)
        self.c1 = qconv("Conv2d", 2, 4, (3, 2), stride=(2, 1), padding=(1, 0))
        self.r1 = quant_relu(6, 2)
        self.pool = nn.AvgPool2d(2)
        self.c2 = qconv("Conv2d", 4, 3, 3, padding="same")
        self.r2 = quant_relu(6, 2)
        self.fc = quant_linear(6, 3, True, W6, B8)

    def forward(self, x):
        x = self.r2(self.c2(self.pool(self.r1(self.c1(self.inp(x))))))
        return self.fc(x.view(x.size(0), -1))


def _randomized(model: nn.Module, seed: int) -> nn.Module:
    """Weights spread over the quantizer's range (with zeros), so every product is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.4 * (torch.rand(p.shape, generator=gen) > 0.2))
    return model.eval()


def conv1d_case() -> tuple[nn.Module, list]:
    return _randomized(Conv1dNet(), 0), [(32, 8)]


def conv2d_case() -> tuple[nn.Module, list]:
    return _randomized(Conv2dNet(), 1), [(2, 6, 5)]


def lower(model: nn.Module, shapes: list):
    from hwai.frontends.torch_fx import lower_torch

    return lower_torch(model, input_shapes=shapes)


def torch_equals_golden(model: nn.Module, graph, n: int = 3000) -> tuple[int, int]:
    """(rows where torch's forward differs from the golden model, distinct golden outputs) on
    vectors of the graph's input type (corners first), fed to torch in its own layout."""
    from hwai.codegen.native import golden_outputs
    from hwai.frontends.brevitas import reference_outputs
    from hwai.frontends.torch_conv import CF
    from hwai.sim.vectors import make_vectors

    t = graph.tensor(graph.inputs[0])
    v = make_vectors(graph, n, seed=3)
    x = t.type.to_float(v).reshape((n,) + t.shape)
    if graph.meta.get("channels_first_inputs"):
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    golden = golden_outputs(graph, v)
    ref = reference_outputs(model, graph, [x])[0]
    assert CF == "channels_first"
    return int(np.count_nonzero(np.any(ref != golden, axis=1))), len(np.unique(golden, axis=0))


@pytest.mark.unit
@pytest.mark.parametrize("case", [conv1d_case, conv2d_case])
def test_brevitas_conv_equals_torch_exactly(case) -> None:
    model, shapes = case()
    g = lower(model, shapes)
    diff, distinct = torch_equals_golden(model, g)
    assert diff == 0 and distinct > 1000
    assert not g.meta["inexact"]


@pytest.mark.unit
def test_conv1d_lowers_to_patches_dense_pool_and_flatten() -> None:
    g = lower(*conv1d_case())
    assert [(n.name, n.op) for n in g.nodes] == [
        ("c1_patches", "patches"), ("c1", "dense"), ("r1", "relu"), ("pool", "pool"), ("c2_patches", "patches"),
        ("c2", "dense"), ("r2", "relu"), ("flatten", "reshape"), ("fc", "dense")]
    a = g.node("c1_patches").attrs
    assert (a.kernel, a.strides, a.pad_before, a.pad_after) == ((3,), (2,), (1,), (1,))
    assert g.tensor(g.inputs[0]).shape == (32, 8) and "channels_first_inputs" not in g.meta
    assert g.node("c2_patches").attrs.pad_before == (1,)   # 'same', kernel 3


@pytest.mark.unit
def test_flatten_after_conv_permutes_the_linear_to_torchs_order() -> None:
    """The IR flattens (L, C) channels-last; torch flattens (C, L): fc's columns are W[:, c * L + l]."""
    from hwai.frontends.torch_conv import torch_order

    model, shapes = conv1d_case()
    g = lower(model, shapes)
    order = torch_order((8, 4))
    assert order[:3].tolist() == [0, 8, 16] and sorted(order) == list(range(32))
    w = model.fc.quant_weight().int().numpy().T   # (in, out), torch's order
    assert (g.node("fc").attrs.weight == w[order]).all()
    assert not (g.node("fc").attrs.weight == w).all()


@pytest.mark.unit
def test_channels_first_input_is_channels_last_in_the_ir() -> None:
    from hwai.frontends.torch_conv import ir_inputs

    g = lower(*conv2d_case())
    x = g.inputs[0]
    assert g.tensor(x).shape == (6, 5, 2) and g.meta["channels_first_inputs"] == [x]
    arr = np.arange(2 * 2 * 6 * 5).reshape(2, 2, 6, 5)
    assert ir_inputs(g, [arr])[0].shape == (2, 6, 5, 2)
    assert (ir_inputs(g, [arr])[0][:, 1, 2, :] == arr[:, :, 1, 2]).all()
    assert g.node("pool").attrs.mode == "avg"


class FloatBnNet(nn.Module):
    """Float Conv1d + BatchNorm1d (folded) + ReLU + AvgPool1d + mean over positions + Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.pool = nn.AvgPool1d(2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x.permute(0, 2, 1)))))
        return self.fc(x.mean(dim=2))


@pytest.mark.unit
def test_float_conv_batchnorm_is_folded_and_close_to_torch() -> None:
    from hwai.frontends.torch_fx_nodes import folded_linear
    from hwai.ir import interp

    torch.manual_seed(0)
    m = FloatBnNet()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.uniform_(-0.3, 0.3)
    m.eval()
    g = lower(m, [(8, 3)])
    assert [n.op for n in g.nodes] == ["patches", "dense", "relu", "pool", "global_pool", "dense"]
    assert g.meta["inexact"] == ["conv", "fc"]
    folded = folded_linear(m.conv, m.bn).weight.detach().double().numpy()   # (F, C, K)
    wt = g.node("conv").attrs.weight_type
    assert (g.node("conv").attrs.weight == wt.from_float(np.moveaxis(folded, 1, -1).reshape(4, -1)).T).all()
    x = np.random.default_rng(0).normal(size=(500, 8, 3))
    with torch.no_grad():
        want = m(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert np.abs(interp.run_float(g, x) - want).max() < 0.05


class _Wrap(nn.Module):
    """channels-last (N, 8, 4) -> transpose -> ``body`` (a conv-based tail under test)."""

    def __init__(self, body) -> None:
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x.transpose(1, 2))


def _refusal(model: nn.Module, shape=(8, 4)) -> str:
    with pytest.raises(UnsupportedLayerError) as err:
        lower(model, [shape])
    assert err.value.exit_code == 2
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("torch.fx node ")
    return msg


def _seq(*layers) -> nn.Module:
    return _Wrap(nn.Sequential(*layers))


@pytest.mark.unit
@pytest.mark.parametrize("layers, words", [
    ((nn.Conv1d(4, 2, 3, dilation=2), nn.Flatten(), nn.Linear(8, 2)), ["body.0: Conv1d", "dilation=(2,)", "dilation=1"]),
    ((nn.Conv1d(4, 2, 3, groups=2), nn.Flatten(), nn.Linear(12, 2)), ["groups=2", "groups=1"]),
    ((nn.Conv1d(4, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(16, 2)), ["'reflect'"]),
    ((nn.Conv1d(4, 2, 2, padding="same"), nn.Flatten(), nn.Linear(16, 2)), ["even kernel (2,)", "odd kernels"]),
    ((nn.Conv1d(4, 2, 1), nn.AvgPool1d(3), nn.Flatten(), nn.Linear(4, 2)), ["3-element window", "power-of-two"]),
    ((nn.Conv1d(4, 2, 1), nn.MaxPool1d(2, padding=1), nn.Flatten(), nn.Linear(10, 2)), ["padding=0"]),
    ((nn.Conv1d(4, 2, 1), nn.Linear(8, 2)), ["body.1: Linear", "channels-first tensor", "flatten then Linear"]),
    ((nn.Conv1d(4, 2, 1),), ["channels-first tensor"]),
])
def test_unsupported_settings_are_refused_in_one_line(layers, words) -> None:
    msg = _refusal(_seq(*layers))
    for w in words:
        assert w in msg, msg


@pytest.mark.unit
def test_conv_on_channels_last_data_and_batchnorm_after_quantconv_are_refused() -> None:
    class NoTranspose(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.conv = nn.ReLU(), nn.Conv1d(4, 2, 1)

        def forward(self, x):
            return torch.flatten(self.conv(self.a(x).transpose(1, 2).transpose(1, 2)), 1)

    assert "reads a channels-last tensor" in _refusal(NoTranspose())
    msg = _refusal(_seq(qconv("Conv1d", 4, 2, 1), nn.BatchNorm1d(2), nn.Flatten(), quant_fc(16, 2)))
    assert "BatchNorm1d" in msg and "float Conv1d/Conv2d" in msg


def quant_fc(n_in: int, n_out: int):
    from hwai.engines.torch.quantize import quant_linear

    return quant_linear(n_in, n_out, True, W6, B8)


@pytest.mark.unit
def test_wrong_permute_and_channel_count_are_refused() -> None:
    class Perm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(8, 2, 1)

        def forward(self, x):
            return torch.flatten(self.conv(x.permute(0, 1, 2)), 1)

    assert "hwai moves the channel axis once" in _refusal(Perm())
    assert "expects 3 channels" in _refusal(_seq(nn.Conv1d(3, 2, 1), nn.Flatten(), nn.Linear(16, 2)))

    class OddMean(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 2)

        def forward(self, x):
            return self.conv(x.transpose(1, 2)).mean(dim=2)

    assert "averages 7 positions; hwai averages a power-of-two count" in _refusal(OddMean())
