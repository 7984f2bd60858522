"""Where the Xilinx ``ap_types`` headers are: every generated C++ project compiles against them.

They ship inside hls4ml; codegen needs them to assemble a project's include folder
(hls4ml's symbolic backend) and :mod:`hwai.sim.gcc` to compile one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from hwai.errors import MissingToolError


def ap_types_dir() -> Path:
    """The ``ap_types`` folder inside the installed hls4ml package (or ``$HWAI_AP_TYPES``)."""
    env = os.environ.get("HWAI_AP_TYPES")
    if env:
        return Path(env)
    try:
        spec = importlib.util.find_spec("hls4ml")  # locate without importing hls4ml (slow)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingToolError("the Xilinx ap_types headers come with hls4ml; install it with: "
                               "pip install hls4ml (or set HWAI_AP_TYPES=/path/to/ap_types)")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").is_file():
        raise MissingToolError(f"ap_fixed.h not found in {path}; reinstall hls4ml")
    return path
