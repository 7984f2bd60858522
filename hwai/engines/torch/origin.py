"""The ``hwai_origin`` a torch model hwai built carries: ``{arch, args}``, what its checkpoint
records so that :func:`hwai.engines.torch.models.from_origin` can build it again (:mod:`.io`)."""

from __future__ import annotations

from typing import Any


def with_origin(model: Any, origin: dict) -> Any:
    """``model`` carrying ``origin`` as its ``hwai_origin``."""
    model.hwai_origin = dict(origin)
    return model
