"""hwai.estimate: analytic resource/latency estimates, EBOPs, and their calibration.

>>> from hwai.estimate import estimate, ebops
>>> est = estimate(graph, Target())          # doctest: +SKIP
>>> est.total.lut, est.total.dsp, est.total.latency_cycles  # doctest: +SKIP
"""

from hwai.estimate.cost import Coefficients, Cost, Estimate, estimate
from hwai.estimate.rules import ebops
from hwai.estimate.rules_mult import csd, mult_kind

__all__ = ["Coefficients", "Cost", "Estimate", "estimate", "ebops", "csd", "mult_kind"]
