"""Sliding-window geometry (convolutions' patches, pooling): one definition of the output
extent and of Keras' 'same' padding, shared by the ops and the frontends."""

from __future__ import annotations

from collections.abc import Sequence


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras' (TensorFlow's) 'same' padding: output ceil(size / stride), the odd pixel after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def out_extent(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               pad_before: Sequence[int] | None = None, pad_after: Sequence[int] | None = None) -> tuple[int, ...]:
    """Window positions along each spatial axis: (n + pads - k) // s + 1."""
    before = pad_before or [0] * len(spatial)
    after = pad_after or [0] * len(spatial)
    return tuple((n + b + a - k) // s + 1 for n, b, a, k, s in zip(spatial, before, after, kernel, strides))
