"""The 1-D convolutional jet tagger (``arch: conv1d``) and the QKeras twins of convolutions.

Over the particles (P, F), channels last: Conv1D/ReLU layers (``conv1``.., 'same' padding, so
each stride-s layer keeps ceil(P / s) positions and an average over a power-of-two count stays
an exact shift), then global average pooling (``pool``) or ``flatten``, then Dense/ReLU
(``fc1``..), ``output``, ``softmax``. QAT (:mod:`hwai.engines.keras.quantize`) turns each
Conv1D/Conv2D into a QConv1D/QConv2D with the same geometry; magnitude pruning prunes the
kernels like a Dense's.
"""

from __future__ import annotations

from typing import Any

CONV1D_FILTERS, CONV1D_KERNEL, CONV1D_HIDDEN = (16, 16), 3, (32,)
CONV_CLASSES = ("Conv1D", "Conv2D", "QConv1D", "QConv2D")
HEADS = ("pool", "flatten")


def build_conv1d(in_shape: tuple[int, ...], n_out: int, filters: list[int] | tuple[int, ...], kernel: int,
                 stride: int, head: str, hidden: list[int] | tuple[int, ...], seed: int,
                 name: str = "conv1d") -> Any:
    """Conv1D/ReLU (conv1..) -> pool | flatten -> Dense/ReLU (fc1..) -> output -> softmax (seeded)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = tf.keras.Input(shape=tuple(in_shape), name="input")
    for i, n in enumerate(filters, start=1):
        x = L.Conv1D(int(n), int(kernel), strides=int(stride), padding="same", name=f"conv{i}",
                     kernel_initializer="lecun_uniform")(x)
        x = L.Activation("relu", name=f"conv{i}_relu")(x)
    x = L.GlobalAveragePooling1D(name="pool")(x) if head == "pool" else L.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = L.Dense(int(units), name=f"fc{i}", kernel_initializer="lecun_uniform")(x)
        x = L.Activation("relu", name=f"fc{i}_relu")(x)
    x = L.Dense(n_out, name="output", kernel_initializer="lecun_uniform")(x)
    return tf.keras.Model(inputs, L.Activation("softmax", name="softmax")(x), name=name)


def qconv(layer: Any, kernel_q: Any, bias_q: Any) -> Any:
    """The QKeras convolution with ``layer``'s geometry and the given weight quantizers."""
    import qkeras

    cfg = layer.get_config()
    cls = getattr(qkeras, "QConv" + type(layer).__name__[-2:])   # QConv1D | QConv2D
    return cls(cfg["filters"], cfg["kernel_size"], strides=cfg["strides"], padding=cfg["padding"],
               use_bias=cfg["use_bias"], name=layer.name, kernel_quantizer=kernel_q,
               bias_quantizer=bias_q if cfg["use_bias"] else None)


def conv1d_model(model_cfg: dict, in_shape: tuple[int, ...], n_out: int, seed: int) -> Any:
    """``arch: conv1d`` from the recipe's model section (defaults: filters [16, 16], kernel 3,
    stride 1, pooling head, one hidden Dense of 32)."""
    return build_conv1d(in_shape, n_out, model_cfg.get("filters") or CONV1D_FILTERS,
                        int(model_cfg.get("kernel") or CONV1D_KERNEL), int(model_cfg.get("stride") or 1),
                        model_cfg.get("head") or "pool", model_cfg.get("hidden") or CONV1D_HIDDEN, seed)
