"""Packaging glue pyproject.toml cannot express: ship repo-root ``templates/`` as ``hwai.templates``.

The templates live at the repo root (where firmware engineers look for them) and are
loaded with importlib.resources from the installed package (hwai/codegen/templates.py).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hwai", "hwai.*"]) + ["hwai.templates"],
    package_dir={"hwai.templates": "templates"},
)
