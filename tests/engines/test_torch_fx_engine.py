"""The torch engine with traced (non-chain) modules: a factory Deep Sets on particle data is built,
trained, checkpointed and lowered through the torch.fx frontend; unsupported modules fail at build
(before training) in one line, exit 2 from the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.torch import TorchEngine  # noqa: E402
from hwai.errors import DataError, UnsupportedLayerError  # noqa: E402
from tests.data.particle_helpers import particles_npz  # noqa: E402
from tests.engines.synthetic import particle_sets  # noqa: E402

P, F = 8, 4
USER_MODELS = '''
import torch
import torch.nn as nn


class DeepSets(nn.Module):
    def __init__(self, n_out=5):
        super().__init__()
        self.phi, self.rho = nn.Linear(4, 8), nn.Linear(8, n_out)

    def forward(self, x):
        return self.rho(torch.relu(self.phi(x)).mean(dim=1))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.phi, self.rnn, self.rho = nn.Linear(4, 8), nn.LSTM(8, 8, batch_first=True), nn.Linear(8, 5)

    def forward(self, x):
        return self.rho(self.rnn(self.phi(x))[0].sum(dim=1))


def deepsets():
    return DeepSets()


def deepsets3():
    return DeepSets(3)


def recurrent():
    return Recurrent()
'''


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "hwai_fx_models.py").write_text(USER_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hwai_fx_models", None)
    return "hwai_fx_models"


@pytest.fixture(scope="module")
def particles() -> Dataset:
    return particle_sets(P, F)


@pytest.mark.unit
def test_factory_deepsets_builds_trains_saves_and_lowers(tmp_path: Path, particles: Dataset, user_module: str) -> None:
    eng = TorchEngine()
    m = eng.train(eng.build({"factory": f"{user_module}:deepsets"}, particles, 0), particles,
                  {"epochs": 1, "batch_size": 64}, 0)
    assert m.hwai_input_shapes == [(P, F)]
    g = eng.lower(m, None, {})
    assert g.meta["frontend"] == "torch.fx" and g.tensor(g.inputs[0]).shape == (P, F)
    assert [n.op for n in g.nodes] == ["dense", "relu", "global_pool", "dense"]
    eng.save(m, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")
    assert back.hwai_input_shapes == [(P, F)]      # recorded in arch.json: resumes lower the same graph
    np.testing.assert_array_equal(eng.logits(back, particles.x_test), eng.logits(m, particles.x_test))
    assert eng.bit_widths(back) == {} and set(eng.sparsity(back)) == {"phi", "rho"}


QAT = {"bits": 6, "integer": 0, "activation": {"bits": 6, "integer": 2}, "input": {"bits": 10, "integer": 4},
       "epochs": 1, "batch_size": 64}


@pytest.mark.unit
def test_qat_of_a_traced_module_is_exact_and_checkpoints(tmp_path: Path, particles: Dataset, user_module: str) -> None:
    from hwai.frontends.brevitas import reference_outputs
    from hwai.ir import interp

    eng = TorchEngine()
    m = eng.build({"factory": f"{user_module}:deepsets"}, particles, 0)
    q = eng.quantize(eng.train(m, particles, {"epochs": 1, "batch_size": 64}, 0), particles, QAT, 0)
    g = eng.lower(q, None, {})
    assert [n.op for n in g.nodes] == ["dense", "relu", "global_pool", "dense"]
    assert str(g.tensor(g.inputs[0]).type) == "fixed<10,4,RND_CONV,SAT>" and g.meta["inexact"] == []
    assert eng.bit_widths(q) == {"x_quant": {"activation": 10}, "phi": {"weight": 6, "bias": 6, "activation": 6}, "rho": {"weight": 6, "bias": 6}}
    tin = g.tensor(g.inputs[0]).type
    codes = tin.from_float(particles.x_train)
    want = reference_outputs(q, g, [tin.to_float(codes)])[0]
    np.testing.assert_array_equal(interp.run(g, codes)[g.outputs[0]], want)   # exact on the input grid
    eng.save(q, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")      # the factory's module, converted again, QAT weights loaded
    np.testing.assert_array_equal(eng.logits(back, particles.x_test), eng.logits(q, particles.x_test))
    g2 = eng.lower(back, None, {})
    np.testing.assert_array_equal(interp.run(g2, codes)[g2.outputs[0]], want)


@pytest.mark.unit
def test_unsupported_module_fails_at_build(particles: Dataset, user_module: str) -> None:
    with pytest.raises(UnsupportedLayerError) as err:
        TorchEngine().build({"factory": f"{user_module}:recurrent"}, particles, 0)
    msg = str(err.value)
    assert "torch.fx node 'rnn' (call_module rnn: LSTM)" in msg and "\n" not in msg
    with pytest.raises(DataError, match=r"outputs per-sample shape \(3,\) but the data has 5 classes"):
        TorchEngine().build({"factory": f"{user_module}:deepsets3"}, particles, 0)


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.phi, self.out = torch.nn.Linear(F, 8), torch.nn.Linear(8 + 3, 5)

    def forward(self, particles, jets):
        return self.out(torch.cat([torch.relu(self.phi(particles)).mean(dim=1), jets], dim=-1))


@pytest.mark.unit
def test_several_inputs_are_split_from_side_by_side_rows(particles: Dataset) -> None:
    """Rows hold the inputs side by side, flattened (``meta['input_shapes']``, the two-input data
    convention); training and inference hand them to forward as separate arguments."""
    from dataclasses import replace

    from hwai.engines.torch.train import forward

    r = np.random.default_rng(1)
    jets = {k: r.normal(size=(len(getattr(particles, k)), 3)).astype(np.float32) for k in ("x_train", "x_val", "x_test")}
    data = replace(particles, **{k: np.concatenate([getattr(particles, k).reshape(len(v), -1), v], axis=1)
                                 for k, v in jets.items()}, meta={"input_shapes": [[P, F], [3]]})
    torch.manual_seed(0)
    m = TwoInputs()
    m.hwai_input_shapes = [(P, F), (3,)]
    eng = TorchEngine()
    eng.train(m, data, {"epochs": 1, "batch_size": 64}, 0)
    with torch.no_grad():
        want = m(torch.as_tensor(particles.x_test), torch.as_tensor(jets["x_test"])).double().numpy()
        np.testing.assert_array_equal(forward(m, torch.as_tensor(data.x_test)).double().numpy(), want)
    np.testing.assert_array_equal(eng.logits(m, data.x_test), want)


def _recipe(tmp_path: Path, factory: str, steps: list) -> Path:
    data = particles_npz(tmp_path / "p.npz", n=600, p=P, f=F)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "torch_fx", "model": {"framework": "torch", "factory": factory},
        "data": {"source": data.name, "inputs": "particles", "split": {"train": 0.6, "val": 0.2, "test": 0.2}},
        "steps": steps}))
    return recipe


@pytest.mark.unit
def test_cli_refuses_an_untraceable_layer_before_training(tmp_path: Path, user_module: str, capsys) -> None:
    from hwai.cli import main

    recipe = _recipe(tmp_path, f"{user_module}:recurrent", [{"train": {"epochs": 1}}, "lower"])
    out = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: ") and "\n" not in err and "torch.fx node 'rnn'" in err and "LSTM" in err
    assert not out.exists()   # refused before anything was written or trained


@pytest.mark.slow   # ~5 min on a loaded machine: training, prune, QAT, two C-sims and Verilator on 10,000 vectors
@pytest.mark.csim
@pytest.mark.rtl
def test_torch_deepsets_recipe_is_exact_in_every_backend(tmp_path: Path, user_module: str) -> None:
    for tool in ("g++", "verilator"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    pytest.importorskip("hls4ml")
    from hwai.cli import main

    steps = [{"train": {"epochs": 1, "batch_size": 64}}, {"prune": {"sparsity": 0.5, "epochs": 1}},
             {"quantize": QAT}, "evaluate", "lower",
             "estimate", {"emit": {"backend": ["hls4ml", "native", "verilog"]}}, {"csim": {"vectors": 10000}},
             {"rtl": {"vectors": 10000}}]
    run = tmp_path / "run"
    assert main(["compress", str(_recipe(tmp_path, f"{user_module}:deepsets", steps)), "--out", str(run)]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["csim"]["per_backend"] == {"hls4ml": 0, "native": 0} and rep["csim"]["vectors"] == 10_000
    assert rep["rtl"]["mismatches"] == 0 and rep["rtl"]["vectors"] == 10_000
    graph = json.loads((run / "steps" / "05_lower" / "checkpoint" / "graph.json").read_text())
    assert graph["meta"]["frontend"] == "torch.fx" and graph["meta"]["inexact"] == []   # QAT: every layer exact
