"""Keras/QKeras implementation of :class:`hwai.engines.base.Engine`.

TensorFlow, QKeras and tfmot are imported inside the methods' helper modules only when a
step runs, so importing this package costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.engines.core import prepare_determinism
from hwai.errors import HwaiError
from hwai.ir.numeric import fixed_from_dict

# oneDNN's switch is read when TensorFlow is first imported, which happens in this package.
prepare_determinism()

__all__ = ["KerasEngine"]

ANOMALY_ARCHS = ("dense_encoder", "conv2d_encoder")


def _build_encoder(model_cfg: dict, data: Dataset, seed: int) -> Any:
    """An anomaly encoder (:mod:`hwai.engines.keras.anomaly`) for the data's row shape."""
    from hwai.engines.keras import anomaly

    shape, latent = tuple(data.x_train.shape[1:]), int(model_cfg.get("latent") or anomaly.LATENT)
    hidden = model_cfg.get("hidden") or anomaly.DENSE_HIDDEN
    if model_cfg["arch"] == "conv2d_encoder":
        return anomaly.build_conv2d_encoder(shape, model_cfg.get("filters") or anomaly.CONV_FILTERS,
                                            model_cfg.get("hidden") or (), latent, seed)
    return anomaly.build_dense_encoder(shape, hidden, latent, seed)


def _build_multihead(model_cfg: dict, data: Dataset, seed: int) -> Any:
    """arch multihead: a shared trunk (``hidden``) and one head (``heads`` widths) per recipe output."""
    from hwai.engines.keras import models

    outputs = model_cfg.get("outputs") or [{"name": "output", "task": "classify"}]
    return models.build_multihead(data.n_features, outputs, data.n_classes,
                                  model_cfg.get("hidden") or models.MULTIHEAD_HIDDEN,
                                  models.MULTIHEAD_HEADS if model_cfg.get("heads") is None else model_cfg["heads"],
                                  seed)


def _input_shapes(data: Dataset) -> list[list[int]]:
    """arch hybrid needs two inputs side by side: ``data.inputs: particles+features``."""
    shapes = data.meta.get("input_shapes")
    if not shapes or len(shapes) != 2:
        raise HwaiError("model.arch 'hybrid' takes the particles and the jet features; "
                        "set data.inputs: particles+features")
    return shapes


class KerasEngine:
    """Training-level steps on ``tf.keras`` models; ``lower`` hands over to the Keras frontend."""

    framework = "keras"

    def build(self, model_cfg: dict, data: Dataset, seed: int) -> Any:
        """``arch: jet_mlp`` (``hidden`` overrides 64-32-32) or ``path`` (+ ``weights``) to load."""
        from hwai.engines.keras import anomaly, models
        from hwai.engines.keras.io import load_model_file
        from hwai.frontends.keras import check_supported

        if model_cfg.get("path"):
            loaded = load_model_file(model_cfg["path"], model_cfg.get("weights"))
            check_supported(loaded)  # the user's layer names, before any training time is spent
            model = models.canonicalize(loaded)
        elif model_cfg.get("arch", "jet_mlp") == "jet_mlp":
            hidden = model_cfg.get("hidden") or models.JET_MLP_HIDDEN
            model = models.build_jet_mlp(data.n_features, data.n_classes, hidden, seed)
        elif model_cfg.get("arch") == "deepsets":
            model = models.build_deepsets(data.x_train.shape[1:], data.n_classes,
                                          model_cfg.get("phi") or models.DEEPSETS_PHI,
                                          model_cfg.get("rho") or models.DEEPSETS_RHO, seed)
        elif model_cfg.get("arch") == "conv1d":
            from hwai.engines.keras.conv import conv1d_model
            model = conv1d_model(model_cfg, data.x_train.shape[1:], data.n_classes, seed)
        elif model_cfg.get("arch") == "hybrid":
            model = models.build_hybrid(_input_shapes(data), data.n_classes,
                                        model_cfg.get("phi") or models.HYBRID_PHI,
                                        model_cfg.get("rho") or models.HYBRID_RHO, seed)
        elif model_cfg.get("arch") in ANOMALY_ARCHS:
            return _build_encoder(model_cfg, data, seed)
        elif model_cfg.get("arch") == "multihead":
            model = _build_multihead(model_cfg, data, seed)
        else:
            raise HwaiError(f"model.arch '{model_cfg.get('arch')}' is unknown; use 'jet_mlp', 'deepsets', "
                            "'hybrid', 'conv1d', 'multihead', 'dense_encoder', 'conv2d_encoder' or give model.path")
        if anomaly.is_anomaly_model(model):
            return model
        models.check_compatible(model, data.n_features, None if model_cfg.get("outputs") else data.n_classes)
        return model

    def train(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Adam + categorical cross-entropy; early stopping on val loss restores the best epoch."""
        from hwai.engines.keras.hgq import refuse_training
        from hwai.engines.keras.train import fit

        refuse_training(model, "train")
        if cfg.get("anomaly"):   # the recipe's anomaly: block: a VAE on the background classes
            from hwai.engines.keras.anomaly import fit_vae
            return fit_vae(model, data, cfg, seed)
        fit(model, data, cfg, seed, tag="train")
        return model

    def prune(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        from hwai.engines.keras.hgq import refuse_training
        from hwai.engines.keras.prune import prune_model

        refuse_training(model, "prune")
        if cfg.get("anomaly"):   # the encoder fine-tuned as an autoencoder on the background
            from hwai.engines.keras.anomaly import fine_tune, skip_latent
            return fine_tune(prune_model, model, data, skip_latent(cfg), seed)
        return prune_model(model, data, cfg, seed)

    def quantize(self, model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """``method: uniform`` (default): QKeras QAT; ``method: hgq``: HGQ 0.2.6 with the
        EBOPs penalty ``cfg['beta']`` (a float), returning HGQ's proxy model."""
        from hwai.engines.keras import hgq

        hgq.refuse_training(model, "quantize")
        if hgq.is_hgq(cfg):
            return hgq.quantize_hgq(model, data, cfg, seed)
        from hwai.engines.keras.quantize import quantize_model

        if cfg.get("anomaly"):
            from hwai.engines.keras.anomaly import fine_tune
            return fine_tune(quantize_model, model, data, cfg, seed)
        return quantize_model(model, data, cfg, seed)

    def ebops(self, model: Any) -> float:
        """HGQ's EBOPs of an HGQ proxy model (what ``trace_minmax`` reported after training)."""
        from hwai.engines.keras.hgq import ebops

        return ebops(model)

    def distill(self, student: Any, teacher: Any, data: Dataset, cfg: dict, seed: int) -> Any:
        """Knowledge distillation (Hinton et al. 2015) from ``teacher``'s cached logits."""
        from hwai.engines.keras_distill import distill_keras

        return distill_keras(student, teacher, data, cfg, seed)

    def logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Pre-softmax outputs in float64 (batched predict, no training-mode ops)."""
        from hwai.engines.keras.models import logit_model, model_inputs

        sub = logit_model(model)
        feed = model_inputs(sub, np.asarray(x, dtype=np.float32))
        return np.asarray(sub.predict(feed, batch_size=4096, verbose=0), dtype=np.float64)

    def output_logits(self, model: Any, x: np.ndarray) -> list[np.ndarray]:
        """:meth:`logits` of every model output, in order ((N, width) float64 each)."""
        from hwai.engines.keras.models import model_inputs, output_logits_model

        sub = output_logits_model(model)
        ys = sub.predict(model_inputs(sub, np.asarray(x, dtype=np.float32)), batch_size=4096, verbose=0)
        ys = ys if isinstance(ys, list) else [ys]
        return [np.asarray(y, dtype=np.float64).reshape(len(x), -1) for y in ys]

    def output_widths(self, model: Any) -> list[int]:
        """Columns of each model output, in order (the recipe's ``outputs:`` is checked against them)."""
        from hwai.engines.keras.models import output_widths

        return output_widths(model)

    def sparsity(self, model: Any) -> dict[str, float]:
        """Zero fraction of each layer's *effective* kernel (after its QKeras quantizer, if any)."""
        from hwai.engines.keras.prune import kernel_sparsity

        return kernel_sparsity(model, quantized=True)

    def bit_widths(self, model: Any) -> dict[str, dict[str, int]]:
        """Per layer widths; an HGQ proxy adds min/mean of its per-weight/per-neuron widths."""
        from hwai.engines.keras import hgq
        from hwai.engines.keras.widths import bit_widths

        return hgq.bit_widths(model) if hgq.is_proxy(model) else bit_widths(model)

    def save(self, model: Any, folder: Path) -> None:
        from hwai.engines.keras.io import save_model

        save_model(model, Path(folder))

    def restore(self, folder: Path) -> Any:
        from hwai.engines.keras.io import restore_model

        return restore_model(Path(folder))

    def lower(self, model: Any, input_type: Any, cfg: dict) -> Any:
        """Delegate to :func:`hwai.frontends.keras.lower_keras`.

        ``cfg`` is the recipe's ``lower:`` section: ``weight`` / ``activation`` are the default
        fixed types (``{width, integer, signed, rounding, overflow}``) for layers the model
        leaves in float; FixedType objects are accepted too.
        """
        from hwai.frontends.keras import lower_keras

        return lower_keras(model, input_type, weight_type=fixed_from_dict(cfg.get("weight")),
                           act_type=fixed_from_dict(cfg.get("activation")), name=cfg.get("name") or model.name,
                           table=cfg.get("table"), output=cfg.get("output") or "logits")

