"""What a framework engine (Keras/QKeras or torch/Brevitas) provides to the recipe runner.

Training-level steps (train, prune, quantize, distill) act on the framework model;
``lower`` is the single crossing into hwai's IR, after which everything is
framework-independent. Both engines implement this protocol with the same names
and the same config keys, so one recipe schema serves both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hwai.data.dataset import Dataset
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType


class Engine(Protocol):
    framework: str  # "keras" | "torch"

    def build(self, model_cfg: dict, data: Dataset, seed: int) -> Any:
        """Build a named architecture (e.g. ``jet_mlp`` 16-64-32-32-5) or load one (model_cfg)."""

    def train(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Float training; returns the trained model."""

    def prune(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Magnitude pruning to ``cfg['sparsity']`` with a schedule and fine-tuning."""

    def quantize(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Quantization-aware training: per-layer bit widths (method uniform) or per-weight and
        per-neuron widths learned with an EBOPs penalty (method hgq, Keras); keeps pruned zeros at zero."""

    def distill(self, student: Any, teacher: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Knowledge distillation of ``student`` from ``teacher`` logits."""

    def logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Pre-softmax outputs (float64) for standardized inputs ``x``."""

    def sparsity(self, model: Any) -> dict[str, float]:
        """Fraction of zero weights per weight-carrying layer (layer name -> fraction)."""

    def bit_widths(self, model: Any) -> dict[str, dict[str, int]]:
        """Per-layer quantizer widths, e.g. {'fc1': {'weight': 6, 'bias': 6, 'activation': 6}}."""

    def save(self, model: Any, folder: Path) -> None:
        """Checkpoint the model into ``folder`` (reloadable by :meth:`restore`)."""

    def restore(self, folder: Path) -> Any:
        """Load a checkpoint written by :meth:`save`."""

    def lower(self, model: Any, input_type: FixedType, cfg: dict) -> Graph:
        """Framework model -> typed IR graph (pre-softmax outputs), validated."""
