"""Knowledge distillation: the loss on hand values, the cache, Keras and torch loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwai.data.dataset import Dataset
from hwai.distill import accuracy, cached_logits, distill_report, kd_loss


def test_kd_loss_hand_values():
    # Equal logits: KL = 0, CE = log 2.
    assert kd_loss(np.zeros((1, 2)), np.zeros((1, 2)), np.array([0]), 2.0, 0.5) == pytest.approx(0.5 * math.log(2))
    # Swapped two-class logits differing by d: KL = d/2 * tanh(d/2)... at T=1, d=1: tanh(1/2).
    s, t = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert kd_loss(s, t, np.array([1]), 1.0, 0.0) == pytest.approx(math.tanh(0.5), rel=1e-12)
    # T=2 halves d; the T² factor scales back: 4 * 0.5 * tanh(0.25).
    assert kd_loss(s, t, np.array([1]), 2.0, 0.0) == pytest.approx(2 * math.tanh(0.25), rel=1e-12)
    # alpha=1: plain cross-entropy of the student.
    assert kd_loss(s, t, np.array([1]), 2.0, 1.0) == pytest.approx(math.log(1 + math.e), rel=1e-12)


def _blobs(n=900, k=3, d=4, seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(k, d))
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    a, b = int(0.6 * n), int(0.8 * n)
    return Dataset(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], tuple("abc"), tuple(f"f{i}" for i in range(d)),
                   np.zeros(d), np.ones(d))


def test_framework_losses_match_reference():
    torch = pytest.importorskip("torch")
    from hwai.engines.torch_distill import kd_loss_torch

    rng = np.random.default_rng(3)
    s, t, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)), rng.integers(0, 5, 7)
    ref = kd_loss(s, t, y, 3.0, 0.3)
    got = float(kd_loss_torch(torch.tensor(s), torch.tensor(t), torch.tensor(y), 3.0, 0.3))
    assert got == pytest.approx(ref, rel=1e-9)
    tf = pytest.importorskip("tensorflow")
    from hwai.engines.keras_distill import kd_loss_tf

    got_tf = float(kd_loss_tf(tf.constant(s), tf.constant(t), tf.constant(y), 3.0, 0.3))
    assert got_tf == pytest.approx(ref, rel=1e-9)


def test_teacher_logits_cached_by_weights_and_inputs(tmp_path):
    calls = []
    fn = lambda x: calls.append(1) or x @ np.ones((2, 3))  # noqa: E731
    x = np.arange(8.0).reshape(4, 2)
    w = [np.ones(3)]
    a, hit_a = cached_logits(fn, w, x, tmp_path)
    b, hit_b = cached_logits(fn, w, x, tmp_path)
    c, hit_c = cached_logits(fn, [np.zeros(3)], x, tmp_path)
    assert (hit_a, hit_b, hit_c) == (False, True, False) and len(calls) == 2
    np.testing.assert_array_equal(a, b)


def test_distill_torch_beats_untrained(tmp_path):
    pytest.importorskip("torch")
    from hwai.engines.torch.models import build_model
    from hwai.engines.torch.train import fit, predict_logits
    from hwai.engines.torch_distill import distill_torch

    data = _blobs()
    teacher = fit(build_model({"arch": "jet_mlp", "hidden": [32]}, 4, 3, 0), data,
                  {"epochs": 15, "batch_size": 64, "learning_rate": 1e-2}, 0)
    untrained = accuracy(predict_logits(build_model({"arch": "jet_mlp", "hidden": [4]}, 4, 3, 1), data.x_test), data.y_test)
    student = distill_torch(None, teacher, data, {"epochs": 15, "batch_size": 64, "learning_rate": 1e-2,
                                                  "student": {"arch": "jet_mlp", "hidden": [4]},
                                                  "cache_dir": str(tmp_path)}, seed=1)
    acc = accuracy(predict_logits(student, data.x_test), data.y_test)
    assert acc > max(untrained + 0.2, 0.8)
    assert list((tmp_path / "teacher_logits").glob("*.npz"))


def test_distill_keras_beats_untrained(tmp_path):
    pytest.importorskip("tensorflow")
    from hwai.engines.keras.models import build_jet_mlp, logit_model
    from hwai.engines.keras_distill import distill_keras

    data = _blobs()
    teacher = build_jet_mlp(4, 3, [32], 0, name="teacher")
    teacher.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    teacher.fit(data.x_train, data.y_train, epochs=30, batch_size=64, verbose=0)
    untrained = build_jet_mlp(4, 3, [4], 1, name="s0")
    base = accuracy(logit_model(untrained).predict(data.x_test, verbose=0), data.y_test)
    student = distill_keras(None, teacher, data, {"epochs": 15, "batch_size": 64, "learning_rate": 1e-2,
                                                  "student": {"hidden": [4]}, "cache_dir": str(tmp_path)}, seed=1)
    assert [l.name for l in student.layers][-2:] == ["output", "softmax"]
    acc = accuracy(logit_model(student).predict(data.x_test, verbose=0), data.y_test)
    assert acc > max(base + 0.2, 0.8)


def test_distill_report():
    rep = distill_report({"accuracy": 0.75, "name": "t"}, {"accuracy": 0.72}, {"lut": 10000, "dsp": 0},
                         {"lut": 2500, "dsp": 0})
    assert rep["delta"] == {"accuracy": pytest.approx(-0.03)}
    assert rep["cost_ratio"] == {"lut": 0.25}
