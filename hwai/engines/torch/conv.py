"""The torch 1-D convolutional jet tagger (``arch: conv1d``), the twin of the Keras one.

Same recipe keys, same meaning and defaults as :mod:`hwai.engines.keras.conv`: over the
particles (P, F), Conv1d/ReLU layers (``conv1``.., stride ``stride``, padding K // 2 so each
layer keeps ceil(P / s) positions for an odd kernel, as Keras' 'same'), then the mean over the
positions (``head: pool``) or a flatten, then Linear/ReLU (``fc1``..), ``output`` (logits).

The model takes the particles channels-last, (N, P, F), as hwai's data hold them and as the
firmware reads them, and turns them channels-first once at the top of ``forward`` (torch's
Conv1d reads (N, C, L)); the torch.fx frontend lowers that transpose as a layout change
(:mod:`hwai.frontends.torch_conv`), so torch, the golden model and the firmware take one array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwai.engines.keras.conv import CONV1D_FILTERS, CONV1D_HIDDEN, CONV1D_KERNEL, HEADS
from hwai.engines.torch.origin import with_origin
from hwai.errors import DataError, RecipeError


def conv1d_tagger(in_shape: Sequence[int], n_out: int, filters: Sequence[int], kernel: int, stride: int,
                  head: str, hidden: Sequence[int]) -> Any:
    """The module (weights initialised by torch's default, seeded by the caller)."""
    import torch
    import torch.nn as nn

    class Conv1dTagger(nn.Module):
        """(N, P, F) channels-last -> conv1.. -> pool | flatten -> fc1.. -> output (logits)."""

        def __init__(self) -> None:
            super().__init__()
            width, length = int(in_shape[1]), int(in_shape[0])
            self.convs = [f"conv{i}" for i in range(1, len(filters) + 1)]
            for name, n in zip(self.convs, filters):
                setattr(self, name, nn.Conv1d(width, int(n), int(kernel), stride=int(stride), padding=int(kernel) // 2))
                setattr(self, f"{name}_relu", nn.ReLU())
                width, length = int(n), (length + 2 * (int(kernel) // 2) - int(kernel)) // int(stride) + 1
            self.head = head
            width = width if head == "pool" else width * length
            self.fcs = [f"fc{i}" for i in range(1, len(hidden) + 1)]
            for name, n in zip(self.fcs, hidden):
                setattr(self, name, nn.Linear(width, int(n)))
                setattr(self, f"{name}_relu", nn.ReLU())
                width = int(n)
            self.output = nn.Linear(width, n_out)

        def forward(self, x: Any) -> Any:
            x = x.transpose(1, 2)   # channels-last particles -> torch's (N, C, L), once
            for name in self.convs:
                x = getattr(self, f"{name}_relu")(getattr(self, name)(x))
            x = x.mean(dim=2) if self.head == "pool" else torch.flatten(x, 1)
            for name in self.fcs:
                x = getattr(self, f"{name}_relu")(getattr(self, name)(x))
            return self.output(x)

    return Conv1dTagger()


def conv1d_args(model_cfg: dict, in_shape: Sequence[int], n_out: int) -> dict:
    """The builder's arguments from the recipe's model section (the Keras arch's defaults), as JSON."""
    if len(in_shape) != 2:
        raise DataError(f"model.arch 'conv1d' reads particles (P, F) but the data has per-sample shape "
                        f"{tuple(in_shape)}; set data.inputs: particles")
    kernel = int(model_cfg.get("kernel") or CONV1D_KERNEL)
    if kernel % 2 == 0:
        raise RecipeError(f"model.kernel {kernel}: the torch conv1d arch needs an odd kernel (torch pads both "
                          "ends alike; an odd kernel keeps ceil(P / stride) positions, as Keras' 'same')")
    head = model_cfg.get("head") or "pool"
    if head not in HEADS:
        raise RecipeError(f"model.head {head!r}: use one of {', '.join(HEADS)}")
    return {"in_shape": [int(d) for d in in_shape], "n_out": int(n_out),
            "filters": [int(n) for n in model_cfg.get("filters") or CONV1D_FILTERS],
            "kernel": kernel, "stride": int(model_cfg.get("stride") or 1),
            "head": head, "hidden": [int(n) for n in model_cfg.get("hidden") or CONV1D_HIDDEN]}


def conv1d_model(model_cfg: dict, in_shape: Sequence[int], n_out: int) -> Any:
    """``arch: conv1d``: the module, with the arguments recorded for checkpoints (:mod:`.io`)."""
    args = conv1d_args(model_cfg, in_shape, n_out)
    return with_origin(conv1d_tagger(**args), {"arch": "conv1d", "args": args})
