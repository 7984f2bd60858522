"""The torch multi-output model (``arch: multihead``), the twin of the Keras one.

Same recipe keys, defaults and layer names as :func:`hwai.engines.keras.models.build_multihead`:
a shared Linear/ReLU trunk (``fc1``, ``fc1_relu``, ... from ``hidden``) and one head per recipe
output, in order (``<name>_fc1``, ``<name>_fc1_relu``, ... from ``heads``, then the Linear
``<name>``). Every head ends in its logits, as the torch engine's one-output models do (the Keras
classify head's softmax is dropped at lowering anyway): ``n_classes`` columns for ``classify``,
one for ``score``. ``forward`` returns the heads as a tuple in the recipe's output order (one
output: the tensor itself, a plain classifier); torch.fx lowers it to one IR output each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwai.engines.keras.models import MULTIHEAD_HEADS, MULTIHEAD_HIDDEN
from hwai.engines.torch.origin import with_origin
from hwai.errors import RecipeError

DEFAULT_OUTPUTS = ({"name": "output", "task": "classify"},)   # no outputs: block: one classifier


def multihead_args(model_cfg: dict, n_in: int, n_classes: int) -> dict:
    """The builder's arguments from the recipe's model section (with its ``outputs:``), as JSON."""
    heads = MULTIHEAD_HEADS if model_cfg.get("heads") is None else model_cfg["heads"]
    outputs = model_cfg.get("outputs") or DEFAULT_OUTPUTS
    return {"n_in": int(n_in), "hidden": [int(n) for n in model_cfg.get("hidden") or MULTIHEAD_HIDDEN],
            "heads": [int(n) for n in heads],
            "outputs": [{"name": str(o["name"]), "width": 1 if o["task"] == "score" else int(n_classes)}
                        for o in outputs]}


def multihead_net(n_in: int, hidden: Sequence[int], heads: Sequence[int], outputs: Sequence[dict]) -> Any:
    """The module (weights initialised by torch's default, seeded by the caller);
    ``outputs``: ``{name, width}`` per head, in order."""
    import torch.nn as nn

    class MultiHead(nn.Module):
        """(N, n_in) -> trunk fc1.. -> per output <name>_fc1.. -> <name> (logits); a tuple of them."""

        def __init__(self) -> None:
            super().__init__()
            self.trunk_layers = _add_dense_relu(self, n_in, hidden, "fc")
            width = int(hidden[-1]) if hidden else int(n_in)
            self.head_layers = []
            for o in outputs:
                names = _add_dense_relu(self, width, heads, f"{o['name']}_fc")
                _add(self, o["name"], nn.Linear(int(heads[-1]) if heads else width, int(o["width"])))
                self.head_layers.append(names + [o["name"]])

        def forward(self, x: Any) -> Any:
            x = self.apply_layers(x, self.trunk_layers)
            outs = tuple(self.apply_layers(x, names) for names in self.head_layers)
            return outs if len(outs) > 1 else outs[0]

        def apply_layers(self, x: Any, names: list[str]) -> Any:
            for name in names:
                x = getattr(self, name)(x)
            return x

    return MultiHead()


def _add_dense_relu(module: Any, width: int, widths: Sequence[int], prefix: str) -> list[str]:
    """Add Linear ``<prefix>i`` and ReLU ``<prefix>i_relu`` per width; their names, in order."""
    import torch.nn as nn

    names: list[str] = []
    for i, n in enumerate(widths, start=1):
        _add(module, f"{prefix}{i}", nn.Linear(int(width), int(n)))
        _add(module, f"{prefix}{i}_relu", nn.ReLU())
        names += [f"{prefix}{i}", f"{prefix}{i}_relu"]
        width = int(n)
    return names


def _add(module: Any, name: str, layer: Any) -> None:
    """Register ``layer`` as ``name``; a name the module already has (another layer's, or an
    nn.Module attribute such as ``forward``) would silently replace it, so it is refused."""
    if hasattr(module, name):
        raise RecipeError(f"outputs: the torch multihead model cannot name a layer {name!r} (the model "
                          "already has it: another layer or an nn.Module attribute); rename that output")
    module.add_module(name, layer)


def multihead_model(model_cfg: dict, n_in: int, n_classes: int) -> Any:
    """``arch: multihead``: the module, with the arguments recorded for checkpoints (:mod:`.io`)."""
    args = multihead_args(model_cfg, n_in, n_classes)
    return with_origin(multihead_net(**args), {"arch": "multihead", "args": args})
