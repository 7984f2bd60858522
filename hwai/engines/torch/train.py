"""The one training loop (float training, pruning fine-tune and QAT all use it).

Adam on cross-entropy of logits (with the recipe's ``outputs:``, one loss per output, summed:
:mod:`.heads`), seeded shuffling, early stopping on validation loss
with the best weights restored, one compact progress line per epoch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import EarlyStopping, epoch_end, learning_rate_at, seed_everything, train_config
from hwai.engines.torch.heads import Heads, outputs_of

StepHook = Callable[[], None]     # called after every optimizer step (e.g. re-apply masks)
EpochHook = Callable[[int], None]  # called before every epoch (e.g. raise pruning sparsity)
Penalty = Callable[[], Any]        # extra loss term after each forward (e.g. beta * EBOPs), None = none


def fit(model: Any, data: Dataset, cfg: dict, seed: int, *, tag: str = "train",
        after_step: StepHook | None = None, before_epoch: EpochHook | None = None,
        after_epoch: EpochHook | None = None, early_stop: bool = True,
        penalty: Penalty | None = None) -> Any:
    """Train ``model`` in place and return it (best-validation weights when early stopping).

    ``cfg``: the step's training keys, defaults from :func:`hwai.engines.core.train_config`.
    """
    import torch

    c = train_config(cfg)
    seed_everything(int(seed), "torch")
    gen = torch.Generator().manual_seed(int(seed))
    xt, xv = _inputs(data.x_train), _inputs(data.x_val)
    yt, yv = objective(cfg, data, data.y_train), objective(cfg, data, data.y_val)
    opt = torch.optim.Adam(model.parameters(), lr=c.learning_rate)
    keeper = best_epoch(model, c.patience if early_stop else 0)
    for epoch in range(c.epochs):
        set_learning_rate(opt, learning_rate_at(c, epoch))
        if before_epoch is not None:
            before_epoch(epoch)
        tr_loss = _epoch(model, opt, xt, yt, c.batch_size, gen, after_step, penalty)
        va_loss, va_acc = evaluate(model, xv, yv)
        print(f"[hwai] {tag} epoch {epoch + 1}/{c.epochs}  loss {tr_loss:.4f}  "
              f"val_loss {va_loss:.4f}  val_acc {va_acc:.4f}", flush=True)
        if len(data.y_val) and not np.isnan(va_acc):  # no val split or only score outputs: no accuracy (as Keras)
            epoch_end(tag, epoch + 1, c.epochs, va_acc)
        if after_epoch is not None:
            after_epoch(epoch)
        if keeper.update(va_loss):
            print(f"[hwai] {tag}: early stop, restoring epoch with val_loss {keeper.best:.4f}", flush=True)
            break
    if early_stop:
        keeper.restore()
    return model.eval()


def set_learning_rate(opt: Any, lr: float) -> None:
    """The epoch's rate (:func:`hwai.engines.core.learning_rate_at`) on every parameter group."""
    for group in opt.param_groups:
        group["lr"] = lr


def best_epoch(model: Any, patience: int) -> EarlyStopping:
    """The shared early-stopping rule, snapshotting this torch model's state dict."""
    return EarlyStopping(patience, lambda: copy.deepcopy(model.state_dict()), model.load_state_dict)


class Labels:
    """The one-output objective: cross-entropy of the logits against the class labels."""

    def __init__(self, y: np.ndarray) -> None:
        import torch

        self.y = torch.as_tensor(np.asarray(y, np.int64))

    def loss(self, out: Any, idx: Any = None) -> Any:
        """Mean cross-entropy on the events ``idx`` (all when None)."""
        import torch.nn.functional as F

        return F.cross_entropy(out, self.y if idx is None else self.y[idx])

    def accuracy(self, out: Any) -> float:
        return float((out.argmax(1) == self.y).float().mean())


def objective(cfg: dict, data: Dataset, y: np.ndarray) -> Labels | Heads:
    """What training minimises on labels ``y``: one loss per output with the recipe's
    ``outputs:`` (``cfg['outputs']``), else the classifier's cross-entropy."""
    if cfg.get("outputs"):
        return Heads(cfg["outputs"], y, tuple(data.class_names))
    return Labels(y)


def _inputs(x: np.ndarray) -> Any:
    import torch

    return torch.as_tensor(np.asarray(x, np.float32))


def _epoch(model: Any, opt: Any, x: Any, y: Labels | Heads, batch: int, gen: Any,
           after_step: StepHook | None, penalty: Penalty | None = None) -> float:
    import torch

    model.train()
    order = torch.randperm(len(x), generator=gen)
    total = 0.0
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        opt.zero_grad()
        loss = y.loss(forward(model, x[idx]), idx)
        extra = penalty() if penalty is not None else None
        if extra is not None:
            loss = loss + extra
        loss.backward()
        opt.step()
        if after_step is not None:
            after_step()
        total += float(loss.detach()) * len(idx)
    return total / max(len(x), 1)


def evaluate(model: Any, x: Any, y: Labels | Heads) -> tuple[float, float]:
    """Validation (loss, accuracy) in eval mode without gradients."""
    import torch

    model.eval()
    with torch.no_grad():
        out = forward(model, x)
        return float(y.loss(out)), y.accuracy(out)


def predict_logits(model: Any, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Forward pass in eval mode, float64 numpy logits; of the first output for a model with
    several (as the Keras engine's ``logits``)."""
    return predict_outputs(model, x, batch)[0]


def predict_outputs(model: Any, x: np.ndarray, batch: int = 8192) -> list[np.ndarray]:
    """Forward pass in eval mode: every output's float64 numpy logits, in order."""
    import torch

    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[start:start + batch], np.float32))
            parts.append([o.double().numpy() for o in outputs_of(forward(model, xb))])
    return [np.concatenate(p) for p in zip(*parts)] if parts else [np.zeros((0, 0))]


def forward(model: Any, x: Any) -> Any:
    """``model(x)``; a model with several inputs (``hwai_input_shapes``, recorded at build) gets
    them split from the rows, where they lie side by side, each flattened, in argument order."""
    shapes = getattr(model, "hwai_input_shapes", None) or ()
    if len(shapes) < 2:
        return model(x)
    args, col = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        args.append(x[:, col:col + size].reshape(len(x), *shape))
        col += size
    return model(*args)
