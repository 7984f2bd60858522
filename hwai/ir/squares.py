"""The interval of a square, shared by the ``sum_squares`` op's interval rule and its Verilog."""

from __future__ import annotations

import numpy as np


def square_interval(lo, hi):
    """Per element: the interval of q² for q in [lo, hi] (its low end is 0 when [lo, hi] holds 0).
    Works on Python ints and on numpy object/int arrays alike."""
    lo2, hi2 = lo * lo, hi * hi
    big = np.maximum(lo2, hi2)
    small = np.where((np.asarray(lo) <= 0) & (np.asarray(hi) >= 0), 0, np.minimum(lo2, hi2))
    return small, big
