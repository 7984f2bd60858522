"""torch.fx frontend (issue 13): modules with branches, several inputs/outputs and particle sets.

Brevitas models (power-of-two quantizers) must equal the golden model exactly on the input grid
(torch run in float64, :func:`reference_outputs`); float models within the lowering's
quantisation. Ops another branch adds (add, concat) are skipped with the reason until merged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
nn = torch.nn

from hwai.engines.torch.quantize import quant_identity, quant_linear, quant_relu  # noqa: E402
from hwai.errors import UnsupportedLayerError  # noqa: E402
from hwai.frontends.brevitas import lower_brevitas, reference_outputs  # noqa: E402
from hwai.frontends.torch_fx import is_chain, lower_fx, lower_torch  # noqa: E402
from hwai.ir import interp  # noqa: E402
from hwai.ir.registry import op_named  # noqa: E402

P, F = 8, 4
N_VECTORS = 12_000
W6 = {"bits": 6, "integer": 0}
B8 = {"bits": 8, "integer": 2}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def needs_op(name: str) -> None:
    if op_named(name) is None:
        pytest.skip(f"IR op {name!r} is not registered in this tree (added by the graph-ops branch)")


def qlinear(n_in: int, n_out: int) -> nn.Module:
    return quant_linear(n_in, n_out, True, W6, B8)


def real_inputs(graph, n: int = N_VECTORS, seed: int = 1) -> list[np.ndarray]:
    """Real inputs per graph input: Gaussian, with exact half-LSB ties and saturating values."""
    r = np.random.default_rng(seed)
    out = []
    for name in graph.inputs:
        t = graph.tensor(name)
        x = r.normal(scale=2.0, size=(n, *t.shape))
        x[: n // 10] = (np.round(x[: n // 10] * 2.0 ** t.type.frac) + 0.5) / 2.0 ** t.type.frac
        x[n // 10: n // 8] *= 2.0 ** (t.type.integer + 1)
        out.append(x)
    return out


def golden(graph, xs: list[np.ndarray]) -> list[np.ndarray]:
    codes = {name: graph.tensor(name).type.from_float(x) for name, x in zip(graph.inputs, xs)}
    outs = interp.run(graph, codes)
    return [outs[o].reshape(len(xs[0]), -1) for o in graph.outputs]


def assert_exact(model: nn.Module, graph) -> None:
    xs = real_inputs(graph)
    on_grid = [graph.tensor(n).type.to_float(graph.tensor(n).type.from_float(x)) for n, x in zip(graph.inputs, xs)]
    for want, got in zip(reference_outputs(model, graph, on_grid), golden(graph, xs)):
        assert want.shape == got.shape and len(np.unique(got, axis=0)) > 100   # outputs vary
        assert int((want != got).any(axis=1).sum()) == 0


# --- the modules ----------------------------------------------------------------------------

class FloatMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 8), nn.Linear(8, 5)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class QuantMLP(nn.Module):
    """A Brevitas MLP written as a module (not Sequential): flattened input, functional relu."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.fc1, self.act, self.fc2 = quant_identity(10, 4), qlinear(16, 8), quant_relu(6, 2), qlinear(8, 5)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.inp(x).view(x.size(0), -1))))


class DeepSets(nn.Module):
    """Per-particle phi (Linear on (N, P, F)), pooling over the particles, rho."""

    def __init__(self, pool: str = "mean", quant: bool = True) -> None:
        super().__init__()
        self.pool = pool
        if quant:
            self.inp, self.phi, self.act = quant_identity(10, 4), qlinear(F, 8), quant_relu(6, 2)
            self.rho = qlinear(8, 5)
        else:
            self.inp, self.phi, self.act, self.rho = nn.Identity(), nn.Linear(F, 8), nn.ReLU(), nn.Linear(8, 5)

    def forward(self, x):
        h = self.act(self.phi(self.inp(x)))
        if self.pool == "mean":
            h = h.mean(dim=1)
        elif self.pool == "sum":
            h = torch.sum(h, 1)
        else:
            h = torch.amax(h, dim=1)
        return self.rho(h)


class TwoHeads(nn.Module):
    """One trunk, a tuple of two outputs; the second one's softmax is dropped (logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.trunk, self.act = quant_identity(10, 4), qlinear(16, 8), quant_relu(6, 2)
        self.cls, self.reg = qlinear(8, 5), qlinear(8, 1)
        self.softmax = True     # False: the logits, the reference of the exactness check

    def forward(self, x):
        h = self.act(self.trunk(self.inp(x)))
        c = self.cls(h)
        return torch.softmax(c, dim=-1) if self.softmax else c, self.reg(h)


class Hybrid(nn.Module):
    """Two inputs: a Deep Sets branch over the particles concatenated with jet features."""

    def __init__(self) -> None:
        super().__init__()
        self.pin, self.jin = quant_identity(10, 4), quant_identity(10, 4)
        self.phi, self.act, self.out = qlinear(F, 8), quant_relu(6, 2), qlinear(8 + 16, 5)

    def forward(self, particles, jets):
        pooled = self.act(self.phi(self.pin(particles))).mean(dim=1)
        return self.out(torch.cat([pooled, self.jin(jets)], dim=-1))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp, self.fc1, self.act, self.fc2 = quant_identity(10, 4), qlinear(16, 16), quant_relu(6, 2), qlinear(16, 5)

    def forward(self, x):
        x = self.inp(x)
        return self.fc2(self.act(self.fc1(x)) + x)


# --- chains keep the chain frontend --------------------------------------------------------------

@pytest.mark.unit
def test_module_chain_keeps_the_chain_frontend() -> None:
    torch.manual_seed(0)
    m = FloatMLP().eval()
    assert is_chain(m)
    a, b = lower_torch(m), lower_brevitas(m)
    assert [(n.name, n.op, n.inputs) for n in a.nodes] == [(n.name, n.op, n.inputs) for n in b.nodes]
    assert a.meta["frontend"] == "brevitas"


@pytest.mark.unit
def test_quant_mlp_with_view_is_exact() -> None:
    torch.manual_seed(1)
    m = QuantMLP().eval()
    assert not is_chain(m)    # x.size(0) / view: traced by the fx frontend
    g = lower_fx(m)
    assert [n.op for n in g.nodes] == ["dense", "relu", "dense"] and g.tensor(g.inputs[0]).shape == (16,)
    assert str(g.tensor(g.inputs[0]).type) == "fixed<10,4,RND_CONV,SAT>"   # the leading QuantIdentity
    assert_exact(m, g)


# --- Deep Sets: per-particle Linear + pooling ----------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("pool,mode", [("mean", "avg"), ("sum", "sum"), ("amax", "max")])
def test_brevitas_deepsets_is_exact(pool: str, mode: str) -> None:
    torch.manual_seed(2)
    m = DeepSets(pool).eval()
    g = lower_torch(m, input_shapes=[(P, F)])
    assert [n.op for n in g.nodes] == ["dense", "relu", "global_pool", "dense"]
    assert g.nodes[2].attrs.mode == mode and g.tensor("phi").shape == (P, 8) and g.tensor(g.outputs[0]).shape == (5,)
    assert_exact(m, g)


@pytest.mark.unit
def test_float_deepsets_within_the_lowering_quantisation() -> None:
    torch.manual_seed(3)
    m = DeepSets(quant=False).eval()
    g = lower_torch(m, input_shapes={"x": (P, F)})
    assert g.meta["inexact"] == ["phi", "rho"]
    x = np.random.default_rng(9).normal(size=(2000, *g.tensor(g.inputs[0]).shape))   # inside the input range
    with torch.no_grad():
        want = m(torch.as_tensor(x, dtype=torch.float32)).numpy()
    got = g.tensor(g.outputs[0]).type.to_float(golden(g, [x])[0])
    assert np.abs(got - want).max() < 0.02 and (got.argmax(1) == want.argmax(1)).mean() > 0.98


@pytest.fixture(scope="module")
def deepsets_design():
    torch.manual_seed(4)
    return lower_torch(DeepSets().eval(), input_shapes=[(P, F)], name="torch_deepsets")


@pytest.mark.csim
def test_deepsets_native_csim_equals_golden(deepsets_design, tmp_path: Path) -> None:
    from hwai.codegen.native import golden_outputs
    from hwai.sim.vectors import make_vectors
    from hwai.target import Target
    from tests.backend_checks import native_apfixed_mismatches

    vectors = make_vectors(deepsets_design, 10_000, seed=5)
    want = golden_outputs(deepsets_design, vectors)
    assert len(vectors) >= 10_000 and len(np.unique(want, axis=0)) > 1000
    assert native_apfixed_mismatches(deepsets_design, Target(project_name="fx"), vectors, want, tmp_path) == 0


# --- several outputs, several inputs, skip connections -------------------------------------------

@pytest.mark.unit
def test_tuple_outputs_are_graph_outputs() -> None:
    torch.manual_seed(5)
    m = TwoHeads().eval()
    g = lower_torch(m)
    assert g.outputs == ("cls", "reg") and g.meta["output_activation"] == "softmax"
    assert [g.tensor(o).shape for o in g.outputs] == [(5,), (1,)]
    m.softmax = False
    assert_exact(m, g)


@pytest.mark.unit
def test_two_input_concat_is_exact() -> None:
    needs_op("concat")
    torch.manual_seed(6)
    m = Hybrid().eval()
    g = lower_torch(m, input_shapes=[(P, F), (16,)])
    assert g.inputs == ("particles", "jets") and "concat" in [n.op for n in g.nodes]
    assert_exact(m, g)


@pytest.mark.unit
def test_skip_connection_is_exact() -> None:
    needs_op("add")
    torch.manual_seed(7)
    m = Residual().eval()
    g = lower_torch(m)
    assert [n.op for n in g.nodes].count("add") == 1
    assert_exact(m, g)


@pytest.mark.unit
@pytest.mark.parametrize("model,op", [(Hybrid, "concat"), (Residual, "add")])
def test_missing_op_is_named(model, op: str) -> None:
    if op_named(op) is not None:
        pytest.skip(f"op {op!r} is registered: the exactness test covers this module")
    with pytest.raises(UnsupportedLayerError) as err:
        lower_torch(model(), input_shapes=[(P, F), (16,)] if op == "concat" else None)
    msg = str(err.value)
    node = "cat" if op == "concat" else "add"
    assert f"torch.fx node {node!r}" in msg and f"needs op {op!r}" in msg and "\n" not in msg


# --- BatchNorm1d folding ---------------------------------------------------------------------

class FoldedBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 5)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


@pytest.mark.unit
def test_batchnorm_after_linear_is_folded() -> None:
    torch.manual_seed(8)
    m = FoldedBN()
    with torch.no_grad():   # non-trivial statistics
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.uniform_(-0.5, 0.5)
    m.eval()
    g = lower_torch(m)
    assert [n.op for n in g.nodes] == ["dense", "quant", "relu", "dense", "quant"] or \
        [n.op for n in g.nodes].count("dense") == 2
    x = np.random.default_rng(9).normal(size=(2000, *g.tensor(g.inputs[0]).shape))   # inside the input range
    with torch.no_grad():
        want = m(torch.as_tensor(x, dtype=torch.float32)).numpy()
    got = g.tensor(g.outputs[0]).type.to_float(golden(g, [x])[0])
    assert np.abs(got - want).max() < 0.02


# --- refusals: one line naming the fx node and its target ------------------------------------------

class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return self.fc(-x)


class RowLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return torch.stack([self.fc(row) for row in x])


class Sorted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return torch.sort(self.fc(x), dim=-1).values


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.rnn = nn.Linear(16, 8), nn.LSTM(8, 8)

    def forward(self, x):
        return self.rnn(self.fc(x))[0]


class KeepDim(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.phi = nn.Linear(F, 8)

    def forward(self, x):
        return self.phi(x).mean(dim=1, keepdim=True)


class LoneBatchNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn, self.fc = nn.BatchNorm1d(16), nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(self.bn(x))


class AddConstant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(x) + 1.0


class BatchFlatten(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(x))


class Conv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(F, 4, 3)

    def forward(self, x):
        return self.conv(x).sum(dim=1)   # over the channels: convolutions lower (test_torch_conv.py), this not


class FlattenParticles(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.phi, self.out = nn.Linear(F, 2), nn.Linear(2 * P, 5)

    def forward(self, x):
        return self.out(torch.flatten(torch.relu(self.phi(x)), 1))


@pytest.mark.unit
@pytest.mark.parametrize("model,shapes,words", [
    (DataDependent, None, ["DataDependent: torch.fx cannot trace forward", "control flow"]),
    (RowLoop, [(P, F)], ["RowLoop: torch.fx cannot trace forward", "loops over tensors"]),
    (Sorted, None, ["torch.fx node 'sort' (call_function sort)", "not supported"]),
    (Recurrent, None, ["torch.fx node 'rnn' (call_module rnn: LSTM)", "not supported"]),
    (KeepDim, [(P, F)], ["torch.fx node 'mean' (call_method mean)", "keepdim=False"]),
    (LoneBatchNorm, None, ["torch.fx node 'bn' (call_module bn: BatchNorm1d)", "directly after a float Linear"]),
    (AddConstant, None, ["torch.fx node 'add' (call_function add)", "a constant"]),
    (BatchFlatten, [(P, F)], ["torch.fx node 'flatten' (call_function flatten)", "batch axis"]),
    (Conv, [(F, P)], ["(call_method sum) in Conv.forward pools a channels-first (4, 6)", "hwai pools every position"]),
])
def test_unsupported_is_one_line_naming_the_node(model, shapes, words: list[str]) -> None:
    with pytest.raises(UnsupportedLayerError) as err:
        lower_torch(model(), input_shapes=shapes)
    msg = str(err.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg


@pytest.mark.unit
def test_data_and_model_shapes_disagree() -> None:
    with pytest.raises(UnsupportedLayerError, match=r"'phi'.*takes 4 features.*shape \(8, 6\)"):
        lower_torch(DeepSets(), input_shapes=[(P, 6)])
    with pytest.raises(UnsupportedLayerError, match=r"forward takes 2 input\(s\) \(particles, jets\) but 1"):
        lower_torch(Hybrid(), input_shapes=[(P, F)])


@pytest.mark.unit
def test_api_lowers_a_traced_module() -> None:
    import hwai.api as hw

    torch.manual_seed(10)
    g = hw.lower_torch(DeepSets("sum"), [(P, F)], name="api_deepsets")
    assert g.name == "api_deepsets" and g.meta["frontend"] == "torch.fx" and g.tensor(g.inputs[0]).shape == (P, F)


@pytest.mark.unit
def test_view_and_flatten_of_flat_data_are_no_ops_and_a_new_shape_needs_reshape() -> None:
    torch.manual_seed(11)
    g = lower_fx(QuantMLP())
    assert len(g.nodes) == 3    # x.view(x.size(0), -1) on (N, 16): no node
    if op_named("reshape") is None:
        with pytest.raises(UnsupportedLayerError, match=r"torch.fx node 'flatten' .*needs op 'reshape'"):
            lower_torch(FlattenParticles(), input_shapes=[(P, F)])
    else:
        g = lower_torch(FlattenParticles(), input_shapes=[(P, F)])
        assert g.tensor("flatten").shape == (2 * P,) and "reshape" in [n.op for n in g.nodes]
