"""Symbolic regression: fit closed-form expressions, lower them to the IR ``expr`` op.

Submodules (imported on use, they pull in sympy/pyoperon): :mod:`.fit`, :mod:`.to_ir`,
:mod:`.select` (hls4ml's own symbolic backend: :mod:`hwai.codegen.hls4ml_symbolic`).
"""
