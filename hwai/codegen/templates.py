"""Where hwai's Jinja2 templates live, and the one Environment that renders them.

The templates are package data (``hwai/templates``), found through
:mod:`importlib.resources`, so an installed wheel never reaches outside its own package.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

import jinja2

from hwai.errors import HwaiError

_MARKER = "native"  # a sub-folder every valid template root has


def template_root() -> Path:
    """The folder holding ``native/`` (and the other template sets): ``hwai/templates``."""
    root = Path(str(importlib.resources.files("hwai") / "templates"))
    if not (root / _MARKER).is_dir():
        raise HwaiError(f"hwai templates not found in {root}; reinstall hwai")
    return root


@functools.cache
def environment() -> jinja2.Environment:
    """Strict, deterministic Jinja2 environment over :func:`template_root`.

    StrictUndefined turns a context key missing in Python into an error instead of
    silently empty C++; trim/lstrip keep ``{% %}`` lines out of the generated code.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template_name: str, /, **context: object) -> str:
    """Render ``template_name`` (relative to the template root) with ``context``."""
    try:
        template = environment().get_template(template_name)
    except jinja2.TemplateNotFound:
        raise HwaiError(f"template {template_name!r} not found under {template_root()}") from None
    return template.render(**context)


def static_file(name: str) -> bytes:
    """Bytes of a hand-written (non-template) file under the template root."""
    return (template_root() / name).read_bytes()
