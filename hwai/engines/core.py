"""What the Keras and torch engines share, so the same recipe key means the same thing.

Training config and its defaults (the recipe schema's), early stopping, the pruning
schedule, the per-layer quantizer spec resolver, how sparsity is measured, the per-epoch
listeners and the determinism switches. The engines only translate these into framework
calls; anything with a *meaning* (a default, a rule, a schedule) is defined here, once,
framework-free.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwai.errors import RecipeError

# The schema's defaults (hwai.recipe.schema.TRAIN; a test checks they agree). Both engines
# fill missing keys from here: 20 epochs, batch 512, Adam lr 3e-3 held constant, patience 5.
TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 20, "batch_size": 512, "learning_rate": 3e-3, "patience": 5,
                                  "lr_schedule": "constant"}
# how the learning rate moves over a training step's epochs (:func:`learning_rate_at`)
LR_SCHEDULES = ("constant", "cosine")
# prune/quantize fine-tuning runs shorter by default (schema: 10 epochs)
FINETUNE_EPOCHS = 10
# Heterogeneous QAT (``quantize: {method: hgq}``), both engines: the EBOPs penalty when the
# recipe gives none, and the starting significant bits per weight / fractional bits per
# activation (HGQ's ``init_bw``). The recipe schema's defaults are these.
HGQ_BETA = 1e-5
HGQ_INIT_BITS = 2
# Early stopping counts an epoch as better only if val loss drops by more than this.
MIN_DELTA = 1e-6
SCHEDULES = ("polynomial", "constant")
QSPEC_DEFAULT = {"bits": 6, "integer": 0}   # hls4ml tutorial part 4: quantized_bits(6, 0, alpha=1)
_QKEYS = ("bits", "integer")
_LAYER_KEYS = ("activation", "bias", "bits", "integer")


# --- training config ------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """The training keys every engine reads, with the one set of defaults."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    lr_schedule: str = "constant"


def train_config(cfg: Mapping[str, Any], epochs: int | None = None) -> TrainConfig:
    """``cfg`` (a recipe step) with missing/None keys from :data:`TRAIN_DEFAULTS`;
    ``epochs`` replaces the default epoch count (fine-tuning steps)."""
    d = {**TRAIN_DEFAULTS, **({"epochs": epochs} if epochs is not None else {})}
    d.update({k: cfg[k] for k in TRAIN_DEFAULTS if cfg.get(k) is not None})
    if d["lr_schedule"] not in LR_SCHEDULES:
        raise RecipeError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {d['lr_schedule']!r}")
    return TrainConfig(int(d["epochs"]), int(d["batch_size"]), float(d["learning_rate"]), int(d["patience"]),
                       str(d["lr_schedule"]))


def learning_rate_at(c: TrainConfig, epoch: int) -> float:
    """The learning rate of 0-based ``epoch``, the same in every engine's training loop.

    ``constant``: ``learning_rate`` throughout. ``cosine``: half a cosine from
    ``learning_rate`` at the first epoch down towards 0 at the end of the step (Loshchilov &
    Hutter, SGDR, without restarts), set once per epoch. A quantization-aware training with
    a constant rate ends wherever the last noisy epoch left it (HGQ's widths move until the
    end); the decay lets it settle, so the model handed on is not one epoch's accident."""
    if c.lr_schedule == "constant" or c.epochs <= 0:
        return c.learning_rate
    return c.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / c.epochs))


def with_train_defaults(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` as a dict whose training keys are filled from :func:`train_config`."""
    return {**{k: v for k, v in cfg.items() if v is not None}, **vars(train_config(cfg))}


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimizer steps per epoch (the last batch may be short)."""
    return max(1, -(-int(n_rows) // int(batch_size)))


# --- early stopping --------------------------------------------------------------

class EarlyStopping:
    """Early stopping on validation loss, the same in every training loop.

    ``update`` snapshots the weights when val loss improves by more than
    :data:`MIN_DELTA` and says stop after ``patience`` epochs without improvement
    (0: never stop early); ``restore`` puts the best snapshot back *whether or not*
    training stopped early (the model handed on is always the best-validation one).
    """

    def __init__(self, patience: int, snapshot: Callable[[], Any], load: Callable[[Any], None]) -> None:
        self.patience, self.best, self.state, self.waited = int(patience), float("inf"), None, 0
        self._snapshot, self._load = snapshot, load

    def update(self, val_loss: float) -> bool:
        if val_loss < self.best - MIN_DELTA:
            self.best, self.state, self.waited = float(val_loss), self._snapshot(), 0
            return False
        self.waited += 1
        return bool(self.patience) and self.waited >= self.patience

    def restore(self) -> None:
        if self.state is not None:
            self._load(self.state)


# --- per-epoch listeners ---------------------------------------------------------------

EpochListener = Callable[[str, int, int, float], None]   # (step tag, epoch 1-based, epochs, val accuracy)
_EPOCH_LISTENERS: list[EpochListener] = []


@contextmanager
def epoch_listener(listener: EpochListener) -> Iterator[None]:
    """Call ``listener`` after every training epoch of every engine while the body runs
    (a sweep trial reports them to Ray Tune, so ASHA can stop a hopeless trial mid-step)."""
    _EPOCH_LISTENERS.append(listener)
    try:
        yield
    finally:
        _EPOCH_LISTENERS.remove(listener)


def epoch_end(tag: str, epoch: int, epochs: int, val_accuracy: float) -> None:
    """Every training loop calls this once per epoch (``epoch`` 1-based), after validation."""
    for listener in list(_EPOCH_LISTENERS):
        listener(tag, epoch, epochs, float(val_accuracy))


# --- pruning ------------------------------------------------------------------------

def target_sparsity(final: float, epoch: int, epochs: int, schedule: str) -> float:
    """Sparsity the masks are raised to at the start of ``epoch`` (0-based).

    One mask update per epoch in both engines. ``polynomial`` is TF-MOT's PolynomialDecay
    with power 3 (Zhu & Gupta 2017, "To prune or not to prune"), indexed by epoch: fast
    early, gentle late, final sparsity from epoch ``epochs - 2`` on so the last epoch
    fine-tunes at it. ``constant`` prunes to the final value before the first epoch.
    """
    check_schedule(schedule)
    if schedule == "constant" or epochs <= 1:
        return float(final)
    frac = min((epoch + 1) / max(epochs - 1, 1), 1.0)
    return float(final) * (1.0 - (1.0 - frac) ** 3)


def sparsity_plan(final: float, epochs: int, schedule: str) -> list[float]:
    """``target_sparsity`` for every epoch: the whole schedule, one entry per mask update."""
    return [target_sparsity(final, e, epochs, schedule) for e in range(max(int(epochs), 1))]


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise RecipeError(f"prune.schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")


def check_sparsity(final: float) -> float:
    if not 0.0 <= float(final) < 1.0:
        raise RecipeError(f"prune.sparsity {final} must be in [0, 1)")
    return float(final)


def prunable(names: Sequence[str], skip: Sequence[str], structured: bool,
             outputs: Sequence[str] | None = None) -> list[str]:
    """Weight layers to prune, in order. Structured pruning removes whole neurons (output
    units) and never touches an output layer (``outputs``: the weight layers computing the
    model's outputs, default the last one): that would delete a class logit or a score."""
    unknown = sorted(set(skip) - set(names))
    if unknown:
        raise RecipeError(f"prune.skip_layers: no layer named {', '.join(unknown)} "
                          f"(weight layers: {', '.join(names)})")
    last = set(outputs) if outputs else set(names[-1:])
    keep = [n for n in names if n not in last] if structured else list(names)
    return [n for n in keep if n not in set(skip)]


def layer_sparsity(names: Sequence[str], cfg: Mapping[str, Any]) -> dict[str, float]:
    """Final sparsity of each pruned layer: ``prune.layers.<name>`` where given, else
    ``prune.sparsity``. A name that is no pruned layer is a :class:`RecipeError` (exit 2)."""
    final = check_sparsity(cfg.get("sparsity", 0.7))
    per = dict(cfg.get("layers") or {})
    unknown = sorted(set(per) - set(names))
    if unknown:
        raise RecipeError(f"prune.layers.{unknown[0]}: no pruned weight layer of that name "
                          f"(pruned layers: {', '.join(names)}; skip_layers and, when structured, the "
                          "output layer are not pruned)")
    return {n: check_sparsity(per.get(n, final)) for n in names}


def zero_fraction(kernel: Any) -> float:
    """Sparsity as hwai reports it: exact zeros of the *quantized* kernel (a weight that
    quantizes to zero costs no multiplier either). Callers pass the quantized kernel."""
    k = np.asarray(kernel)
    return float(np.mean(k == 0.0)) if k.size else 0.0


def log_prune_epoch(epoch: int, epochs: int, sparsity: Mapping[str, float]) -> None:
    """One line per epoch, the same in both engines: mean sparsity of the pruned layers."""
    mean = float(np.mean(list(sparsity.values()))) if sparsity else 0.0
    print(f"[prune] epoch {epoch + 1}/{epochs} sparsity {mean:.4f}", file=sys.stderr, flush=True)


# --- per-layer quantizer specs -------------------------------------------------------

def resolve_layer_specs(chain: Sequence[tuple[str, ...]], cfg: Mapping[str, Any]) -> dict[str, dict]:
    """Per-layer quantizer specs from ``quantize:`` (``bits``, ``integer``, ``activation``,
    ``layers``), for a chain of ``(name, kind)`` or ``(name, kind, source)`` with kind
    ``weight``, ``relu`` or other; ``source`` names the layer a ReLU reads.

    A weight layer gets ``{weight, bias, activation}``; bias defaults to the weight's spec,
    activation to ``quantize.activation`` (itself defaulting to the weight spec). A ReLU
    gets ``{activation}``: its own override, else the activation spec of its source weight
    layer (given, or the weight layer before it in the chain: with parallel heads, whose
    layers Keras lists interleaved, only the source is right). Unknown layer names or keys
    are :class:`RecipeError` (exit 2).
    """
    base_w = qspec({k: cfg.get(k) for k in _QKEYS}, "quantize", QSPEC_DEFAULT)
    base_a = qspec(cfg.get("activation"), "quantize.activation", base_w)
    overrides = dict(cfg.get("layers") or {})
    unknown = sorted(set(overrides) - {c[0] for c in chain})
    if unknown:
        raise RecipeError(f"quantize.layers: no layer named {unknown[0]!r} "
                          f"(layers: {', '.join(c[0] for c in chain)})")
    specs: dict[str, dict] = {}
    last_act = base_a
    for name, kind, *src in chain:
        o = _layer_override(overrides.get(name), name)
        if kind == "relu" and src and src[0] in specs:
            last_act = specs[src[0]]["activation"]
        if kind == "weight":
            w = qspec({k: o.get(k) for k in _QKEYS}, f"quantize.layers.{name}", base_w)
            last_act = qspec(o.get("activation"), f"quantize.layers.{name}.activation", base_a)
            specs[name] = {"weight": w, "bias": qspec(o.get("bias"), f"quantize.layers.{name}.bias", w),
                           "activation": last_act}
        elif kind == "relu":
            own = {k: o.get(k) for k in _QKEYS} if o else None
            specs[name] = {"activation": qspec(own, f"quantize.layers.{name}", last_act)}
    return specs


def _layer_override(o: Any, name: str) -> dict:
    if o is None:
        return {}
    if not isinstance(o, Mapping):
        raise RecipeError(f"quantize.layers.{name} must be a mapping, got {o!r}")
    bad = sorted(set(o) - set(_LAYER_KEYS))
    if bad:
        raise RecipeError(f"quantize.layers.{name}: unknown key {bad[0]!r} (expected {', '.join(_LAYER_KEYS)})")
    return dict(o)


def qspec(d: Any, where: str, default: Mapping[str, int]) -> dict:
    if d is None:
        return dict(default)
    if not isinstance(d, Mapping):
        raise RecipeError(f"{where} must be a mapping with bits/integer, got {d!r}")
    extra = sorted(set(d) - set(_QKEYS))
    if extra:
        raise RecipeError(f"{where}: unknown key {extra[0]!r} (expected bits, integer)")
    out = {**default, **{k: int(v) for k, v in d.items() if v is not None}}
    if not 1 <= out["bits"] <= 32:
        raise RecipeError(f"{where}.bits {out['bits']} must be between 1 and 32")
    return out


# --- determinism -----------------------------------------------------------------------

def prepare_determinism() -> None:
    """Environment switches that must precede importing TensorFlow: oneDNN's custom CPU
    kernels pick algorithms (and float summation orders) by CPU and thread count."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")


def seed_everything(seed: int, framework: str) -> None:
    """Seed python, numpy and the framework; switch the framework to deterministic ops
    with one intra-op thread (a float sum's order then does not depend on the core count)."""
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    if framework == "torch":
        _torch_deterministic(int(seed))
    else:
        _tf_deterministic(int(seed))


def _torch_deterministic(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def _tf_deterministic(seed: int) -> None:
    prepare_determinism()
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already up (an earlier step): keep its setting
        pass
