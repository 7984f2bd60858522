"""Errors a user can act on: one line naming the file/field/layer and what to do.

The CLI prints ``hwai: <message>`` and exits with ``exit_code``; no traceback.
"""

from __future__ import annotations


class IRError(ValueError):
    """A graph that violates an IR invariant (a bug in a frontend or pass, not user input)."""


class HwaiError(Exception):
    """Base class: ``str(err)`` is the one-line message shown to the user."""

    exit_code = 1


class RecipeError(HwaiError):
    """A recipe field is missing, unknown or of the wrong type (exit 2)."""

    exit_code = 2


class UnsupportedLayerError(HwaiError):
    """A model contains a layer or quantizer hwai cannot represent exactly (exit 2)."""

    exit_code = 2


class DataError(HwaiError):
    """A dataset cannot be found, read or split (exit 2)."""

    exit_code = 2


class ModelFileError(HwaiError):
    """A model file (model.path, weights, teacher) cannot be found or read (exit 2)."""

    exit_code = 2


class RunFolderError(HwaiError):
    """The output folder cannot be used: a file, not writable, not an hwai run, locked (exit 2)."""

    exit_code = 2


class MissingToolError(HwaiError):
    """An external tool (g++, verilator, yosys, julia) is not installed (exit 3)."""

    exit_code = 3


class BudgetError(HwaiError):
    """The design does not fit the recipe's hardware budget and on_fail is 'error' (exit 4)."""

    exit_code = 4


class MismatchError(HwaiError):
    """A simulation disagrees with the golden model (exit 5)."""

    exit_code = 5


def require_tool(name: str, install_hint: str) -> str:
    """Return the path of executable ``name`` or raise MissingToolError with the install command."""
    import shutil

    path = shutil.which(name)
    if path is None:
        raise MissingToolError(f"{name} not found on PATH; install it with: {install_hint}")
    return path
