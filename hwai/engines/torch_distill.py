"""Knowledge distillation for the torch engine (loss: :func:`hwai.distill.kd_loss`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.distill import cache_dir, cached_logits, settings
from hwai.engines.core import epoch_end, learning_rate_at, seed_everything, train_config, with_train_defaults


def kd_loss_torch(s: Any, t: Any, y: Any, temperature: float, alpha: float) -> Any:
    """alpha*CE + (1-alpha)*T²*KL(softmax(t/T) || softmax(s/T)), batch mean (Hinton 2015)."""
    import torch.nn.functional as F

    T = float(temperature)
    kl = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1),
                  reduction="batchmean", log_target=True)
    return alpha * F.cross_entropy(s, y) + (1.0 - alpha) * T * T * kl


def teacher_logits(teacher: Any, x: np.ndarray, cfg: dict) -> np.ndarray:
    """Cached teacher logits (key: teacher state_dict + inputs)."""
    from hwai.engines.torch.train import predict_logits

    weights = [v.detach().cpu().numpy() for _, v in sorted(teacher.state_dict().items())]
    return cached_logits(lambda a: predict_logits(teacher, a), weights, x, cache_dir(cfg))[0]


def distill_torch(student: Any, teacher: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Train ``student`` (built from ``cfg['student']`` when None) on the KD loss; returns it
    with the best-validation-loss weights restored."""
    import torch

    from hwai.engines.torch.train import best_epoch, set_learning_rate

    c = with_train_defaults(settings(cfg))
    if student is None:
        from hwai.engines.torch.models import build_model

        student = build_model(dict(c.get("student") or {"arch": "jet_mlp"}), data.n_features,
                              data.n_classes, seed)
    seed_everything(int(seed), "torch")
    gen = torch.Generator().manual_seed(int(seed))
    xt = torch.as_tensor(np.asarray(data.x_train, np.float32))
    yt = torch.as_tensor(np.asarray(data.y_train, np.int64))
    tt = torch.as_tensor(teacher_logits(teacher, data.x_train, c), dtype=torch.float32)
    xv = torch.as_tensor(np.asarray(data.x_val, np.float32))
    yv = torch.as_tensor(np.asarray(data.y_val, np.int64))
    tv = torch.as_tensor(teacher_logits(teacher, data.x_val, c), dtype=torch.float32)
    opt = torch.optim.Adam(student.parameters(), lr=float(c["learning_rate"]))
    keeper = best_epoch(student, int(c["patience"] or 0))
    schedule = train_config(c)
    for epoch in range(int(c["epochs"])):
        set_learning_rate(opt, learning_rate_at(schedule, epoch))
        tr = _epoch(student, opt, (xt, yt, tt), int(c["batch_size"]), gen, c)
        with torch.no_grad():
            student.eval()
            sv = student(xv)
            va = float(kd_loss_torch(sv, tv, yv, c["temperature"], c["alpha"]))
            acc = float((sv.argmax(1) == yv).float().mean())
        print(f"[hwai] distill epoch {epoch + 1}/{c['epochs']}  kd_loss {tr:.4f}  "
              f"val_kd_loss {va:.4f}  val_acc {acc:.4f}", flush=True)
        epoch_end("distill", epoch + 1, int(c["epochs"]), acc)
        if keeper.update(va):
            break
    keeper.restore()
    return student.eval()


def _epoch(model: Any, opt: Any, tensors: tuple, batch: int, gen: Any, c: dict) -> float:
    import torch

    x, y, t = tensors
    model.train()
    order = torch.randperm(len(x), generator=gen)
    total = 0.0
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        opt.zero_grad()
        loss = kd_loss_torch(model(x[idx]), t[idx], y[idx], c["temperature"], c["alpha"])
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / max(len(x), 1)
