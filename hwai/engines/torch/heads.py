"""torch losses of a model with several outputs (the recipe's ``outputs:``), the Keras engine's rule.

One loss per output, summed: a ``classify`` output (its logits) learns the labels with
cross-entropy; a ``score`` output (one logit) learns signal against background with binary
cross-entropy on the logit. Targets and event weights are the engines' shared
:func:`hwai.engines.heads.targets`; as in Keras, each output's loss is the weighted per-event
loss averaged over all events of the batch (events of a weight 0 count in the denominator).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.engines.heads import targets


def outputs_of(out: Any) -> list[Any]:
    """A forward's result as a list of plain tensors: a tuple's items (several outputs) or the
    one tensor; a Brevitas QuantTensor gives its dequantized value."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [getattr(o, "value", o) for o in outs]


def output_loss(task: str, out: Any, target: Any, weight: Any) -> Any:
    """One output's loss: weighted per-event cross-entropy (classify, one-hot target) or binary
    cross-entropy on the logit (score), averaged over the batch."""
    import torch.nn.functional as F

    if task == "score":
        per = F.binary_cross_entropy_with_logits(out.reshape(len(out), -1), target, reduction="none").mean(dim=1)
    else:
        per = F.cross_entropy(out, target, reduction="none")
    return (per * weight).mean()


class Heads:
    """The training objective of a model with several outputs, on one split's labels."""

    def __init__(self, outputs: list[dict], y: np.ndarray, class_names: tuple[str, ...]) -> None:
        import torch

        ys, ws = targets(outputs, y, class_names)
        self.tasks = [str(o["task"]) for o in outputs]
        self.targets = [(torch.as_tensor(t), torch.as_tensor(w)) for t, w in zip(ys, ws)]

    def losses(self, out: Any, idx: Any = None) -> list[Any]:
        """Per output, in order: its loss on the events ``idx`` (all when None) for the model's ``out``."""
        pick = (lambda a: a) if idx is None else (lambda a: a[idx])
        return [output_loss(task, o, pick(t), pick(w))
                for task, o, (t, w) in zip(self.tasks, outputs_of(out), self.targets)]

    def loss(self, out: Any, idx: Any = None) -> Any:
        """The sum of :meth:`losses`: what training minimises and early stopping watches."""
        return sum(self.losses(out, idx))

    def accuracy(self, out: Any) -> float:
        """The first classify output's accuracy (nan without one: scores have none)."""
        for task, o, (t, _) in zip(self.tasks, outputs_of(out), self.targets):
            if task == "classify":
                return float((o.argmax(1) == t.argmax(1)).float().mean())
        return float("nan")
