"""The shared pruning schedule (:func:`hwai.engines.core.sparsity_plan`) as a tfmot schedule.

tfmot's own PolynomialDecay counts optimizer steps; hwai's schedule is defined per epoch
(one mask update before each epoch, as the torch engine does), so the same
``schedule: polynomial`` means the same sparsity sequence in both engines. Imported only
by the pruning code (it imports TensorFlow and tfmot).
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf
import tensorflow_model_optimization as tfmot


class EpochSchedule(tfmot.sparsity.keras.PruningSchedule):
    """Raise the masks to ``plan[e]`` on the first batch of epoch ``e``; never otherwise.

    tfmot increments the wrapper's step *before* the mask update of each batch, starting
    from 0, so batch ``k`` (0-based, over the whole fit) sees step ``k + 1``.
    """

    def __init__(self, plan: Sequence[float], steps_per_epoch: int) -> None:
        self.plan = [float(s) for s in plan]
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step: Any) -> tuple[Any, Any]:
        batch = tf.cast(step, tf.int64) - 1
        epoch = tf.clip_by_value(batch // self.steps_per_epoch, 0, len(self.plan) - 1)
        due = tf.logical_and(batch >= 0, tf.equal(batch % self.steps_per_epoch, 0))
        return due, tf.gather(tf.constant(self.plan, tf.float32), epoch)

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__,
                "config": {"plan": self.plan, "steps_per_epoch": self.steps_per_epoch}}
