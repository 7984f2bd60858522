"""The torch engine with several outputs (the recipe's ``outputs:``): ``arch: multihead`` built with
the Keras arch's keys, defaults and layer names, one loss per output (the Keras engine's targets
and weights), lowered by torch.fx as it computes, and after pruning + Brevitas QAT exactly the
golden model on 12,000 vectors; the recipe end to end is in test_heads_recipe.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwai.data.dataset import Dataset  # noqa: E402
from hwai.engines.torch import TorchEngine  # noqa: E402
from hwai.errors import RecipeError  # noqa: E402
from tests.engines.synthetic import blobs  # noqa: E402

OUTPUTS = [{"name": "classes", "task": "classify"},
           {"name": "top_tag", "task": "score", "signals": ["t"], "background": ["g", "q"], "rate": 0.1}]
ARCH = {"framework": "torch", "arch": "multihead", "hidden": [16, 8], "heads": [4], "outputs": OUTPUTS}
STEP = {"epochs": 2, "batch_size": 64, "learning_rate": 0.01, "outputs": OUTPUTS}
QAT = {**STEP, "epochs": 1, "bits": 6, "integer": 0, "activation": {"bits": 8, "integer": 2}}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return blobs(600)


def build(data: Dataset, **cfg):
    return TorchEngine().build({**ARCH, **cfg}, data, seed=0)


def losses(model, data: Dataset) -> list[float]:
    """Each output's loss on the training rows (the objective the engine minimises)."""
    from hwai.engines.torch.heads import Heads

    with torch.no_grad():
        out = model(torch.as_tensor(data.x_train))
    return [float(v) for v in Heads(OUTPUTS, data.y_train, tuple(data.class_names)).losses(out)]


@pytest.mark.unit
def test_targets_and_weights_are_the_keras_engines(data: Dataset) -> None:
    from hwai.engines.keras.train import fit_targets
    from hwai.engines.torch.heads import Heads

    (_, k_ys, k_ws), _ = fit_targets(object(), data, {"outputs": OUTPUTS})
    heads = Heads(OUTPUTS, data.y_train, tuple(data.class_names))
    assert heads.tasks == ["classify", "score"]
    for (t, w), ky, kw in zip(heads.targets, k_ys, k_ws):
        np.testing.assert_array_equal(t.numpy(), ky)
        np.testing.assert_array_equal(w.numpy(), kw)
    # the score's rule: t is 1, g/q 0, W/Z weigh 0
    sig, wt = heads.targets[1][0].numpy()[:, 0], heads.targets[1][1].numpy()
    assert set(data.y_train[sig == 1]) == {4} and set(data.y_train[wt == 0]) == {2, 3}


@pytest.mark.unit
def test_multihead_has_the_keras_layers_and_defaults(data: Dataset) -> None:
    tf = pytest.importorskip("tensorflow")
    from hwai.engines.keras.models import MULTIHEAD_HEADS, MULTIHEAD_HIDDEN, build_multihead

    del tf
    keras = build_multihead(16, OUTPUTS, 5, MULTIHEAD_HIDDEN, MULTIHEAD_HEADS, seed=0)
    want = {layer.name: tuple(layer.kernel.shape) for layer in keras.layers if layer.weights}   # Keras: graph order
    default = build(data, hidden=None, heads=None)   # the Keras arch's defaults: 64-32 trunk, 16 per head
    got = {n: tuple(m.weight.shape[::-1]) for n, m in default.named_children() if isinstance(m, torch.nn.Linear)}
    assert got == want and list(got)[-3:] == ["classes", "top_tag_fc1", "top_tag"]
    relus = {n for n, m in default.named_children() if isinstance(m, torch.nn.ReLU)}
    assert relus == {layer.name for layer in keras.layers if "relu" in layer.name}   # fc1_relu, ..., top_tag_fc1_relu
    out = default(torch.zeros(3, 16))
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(3, 5), (3, 1)]   # logits, recipe order
    assert TorchEngine().output_widths(default) == [5, 1]
    one = build(data, outputs=None)   # no outputs: block: one classify head, a plain classifier
    assert tuple(one(torch.zeros(2, 16)).shape) == (2, 5) and [n for n, _ in one.named_children()][-1] == "output"


@pytest.mark.unit
def test_an_output_named_like_a_module_attribute_is_refused(data: Dataset) -> None:
    bad = [{"name": "forward", "task": "classify"}, OUTPUTS[1]]
    with pytest.raises(RecipeError) as err:
        build(data, outputs=bad)
    assert str(err.value) == ("outputs: the torch multihead model cannot name a layer 'forward' (the model already "
                              "has it: another layer or an nn.Module attribute); rename that output")
    assert err.value.exit_code == 2


@pytest.mark.unit
def test_training_lowers_every_outputs_loss(data: Dataset) -> None:
    model = build(data)
    before = losses(model, data)
    trained = TorchEngine().train(model, data, STEP, 0)
    after = losses(trained, data)
    assert after[0] < before[0] and after[1] < before[1], (before, after)


@pytest.mark.unit
def test_fx_lowering_computes_what_torch_does(data: Dataset) -> None:
    """The float model on inputs of the input grid, lowered with wide types: the golden model's
    float outputs are torch's (to float32 rounding)."""
    from hwai.frontends.torch_fx import lower_torch
    from hwai.ir.interp import run_float_outputs
    from hwai.ir.types import FixedType

    model = build(data)
    g = lower_torch(model, weight_type=FixedType(32, 8), activation_type=FixedType(40, 16))
    assert g.outputs == ("classes", "top_tag") and [n.name for n in g.nodes if n.op == "dense"] == [
        "fc1", "fc2", "classes_fc1", "classes", "top_tag_fc1", "top_tag"]
    x = np.round(data.x_test * 1024) / 1024   # on the default ap_fixed<16,6> input grid
    engine = TorchEngine().output_logits(model, x)
    for golden, torch_out in zip(run_float_outputs(g, x), engine):
        np.testing.assert_allclose(golden, torch_out, rtol=0, atol=1e-5)


@pytest.mark.unit
def test_pruned_qat_model_is_the_golden_model_on_12k_vectors(data: Dataset, tmp_path: Path) -> None:
    from hwai.frontends.brevitas import reference_outputs
    from hwai.ir import interp
    from hwai.ir.numeric import DEFAULT_TYPE
    from hwai.sim.vectors import make_vectors

    eng = TorchEngine()
    model = eng.prune(eng.train(build(data), data, STEP, 0), data, {**STEP, "sparsity": 0.5, "epochs": 1}, 0)
    q = eng.quantize(model, data, QAT, 0)
    assert eng.sparsity(q)["top_tag"] == 0.5 and eng.bit_widths(q)["classes_fc1"] == {
        "weight": 6, "bias": 6, "activation": 8}
    g = eng.lower(q, DEFAULT_TYPE, {})
    assert g.meta["inexact"] == [] and g.outputs == ("classes", "top_tag")
    codes = make_vectors(g, 12_000, seed=1)
    real = g.tensor(g.inputs[0]).type.to_float(codes)
    golden = interp.run(g, codes)
    for name, want in zip(g.outputs, reference_outputs(q, g, [real])):
        assert int((golden[name] != want).any(axis=1).sum()) == 0, name
        assert len(np.unique(want, axis=0)) > 100   # not a constant output
    outs = eng.output_logits(q, data.x_test)
    assert [o.shape for o in outs] == [(len(data.x_test), 5), (len(data.x_test), 1)]
    np.testing.assert_array_equal(eng.logits(q, data.x_test), outs[0])   # logits: the first output's
    eng.save(q, tmp_path / "ckpt")
    back = eng.restore(tmp_path / "ckpt")
    for a, b in zip(eng.output_logits(back, data.x_test), outs):
        np.testing.assert_array_equal(a, b)
