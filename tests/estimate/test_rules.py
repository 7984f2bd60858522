"""Estimator rules on hand-worked tiny graphs."""

import numpy as np
import pytest

from hwai.estimate import Coefficients, csd, ebops, estimate, mult_kind
from hwai.estimate.rules import dsp_count, odd_bits
from hwai.ir.graph import Node, Tensor, chain
from hwai.ir.types import FixedType
from hwai.passes.precision import infer_precision
from hwai.target import Target

pytestmark = pytest.mark.unit
C = Coefficients()


def one_dense(w, x_bits=8, w_bits=8, bias=None):
    w = np.asarray(w, dtype=np.int64)
    b = np.zeros(w.shape[1], dtype=np.int64) if bias is None else np.asarray(bias)
    node = Node("d", "dense", ("x",), ("y",), {"weight": w, "weight_type": FixedType(w_bits, 1),
                                               "bias": b, "bias_type": FixedType(w_bits, 1),
                                               "accum_type": None})
    return infer_precision(chain("t", Tensor("x", (w.shape[0],), FixedType(x_bits, 3)),
                                 [(node, Tensor("y", (w.shape[1],)))]))


@pytest.mark.parametrize("v", [1, -1, 3, 7, -7, 11, 45, -128, 255, 1023])
def test_csd_reconstructs_and_is_minimal_form(v):
    digits = csd(v)
    assert sum(s * (1 << k) for k, s in digits) == v
    ks = [k for k, _ in digits]
    assert all(b - a >= 2 for a, b in zip(ks, ks[1:]))  # no two adjacent non-zero digits


def test_zero_weights_cost_nothing():
    est = estimate(one_dense([[0, 0], [0, 0]]), Target(), C)
    assert est.total.lut == 0 and est.total.dsp == 0
    assert ebops(one_dense([[0, 0], [0, 0]])) == 0


def test_power_of_two_weights_need_no_multiplier():
    # one input per output: a ±2^k product is wiring, no adder, no DSP
    est = estimate(one_dense([[4, -16]], x_bits=16, w_bits=16), Target(), C)
    assert est.total.lut == 0 and est.total.dsp == 0
    assert mult_kind(64, 16, C) == "shift" and mult_kind(-1, 16, C) == "shift"


def test_lut_multiplier_scales_with_csd_digits():
    # 3 = 4 - 1 (2 digits: 1 adder), 0b1010101 = 85 (4 digits: 3 adders)
    small = estimate(one_dense([[3]]), Target(), C).total.lut
    big = estimate(one_dense([[85]]), Target(), C).total.lut
    assert 0 < small < big
    assert big >= 3 * small       # 3x the adders, each at least as wide


def test_dsp_threshold_needs_both_operands_wide():
    assert mult_kind(1001, 16, C) == "dsp"       # 10-bit odd part (+sign) x 16-bit input
    assert mult_kind(1000, 16, C) == "lut"       # 1000 = 125 << 3: only 7 bits of work
    assert mult_kind(1001, 8, C) == "lut"        # narrow input
    assert mult_kind(5, 16, C) == "lut"          # narrow constant
    est = estimate(one_dense([[1001], [999]], x_bits=16, w_bits=12), Target(), C)
    assert est.total.dsp == 2
    assert dsp_count(27, 18, C) == 1 and dsp_count(30, 18, C) == 2


def test_ebops_hand_count():
    # unsigned-free case: x is ap_fixed<8,3> (8 bits), weights 3 (2 odd bits) and 4 (1 bit)
    assert ebops(one_dense([[3], [4]])) == 8 * 2 + 8 * 1
    assert odd_bits(12) == 2


def test_latency_grows_with_clock_speed():
    g = one_dense(np.full((64, 4), 91))
    slow = estimate(g, Target(clock_period_ns=10.0), C).total.latency_cycles
    fast = estimate(g, Target(clock_period_ns=1.0), C).total.latency_cycles
    assert slow >= 1 and fast > slow


def test_reuse_factor_sets_ii():
    g = one_dense(np.full((4, 4), 1001), x_bits=16, w_bits=12)
    node = g.nodes[0].with_impl(reuse_factor=4)
    est = estimate(g.with_node(node), Target(), C)
    assert est.total.ii == 4 and est.total.dsp == 4


def test_fitted_coefficients_load():
    c = Coefficients.fitted()
    assert c.dsp_a_bits == 27 and c.lut_per_add_bit > 0


def test_fmax_follows_pipelining_to_meet_the_target_clock() -> None:
    from hwai.estimate import estimate
    from hwai.estimate.cost import Cost
    from hwai.target import Target
    from tests.ir.helpers import mlp_graph

    g = mlp_graph((16, 32, 16, 5), seed=2, sparsity=0.3)
    assert Cost(stage_ns=2.5).fmax_mhz == 400.0 and Cost().fmax_mhz is None
    for period in (5.0, 2.5):
        est = estimate(g, Target(clock_period_ns=period))
        assert est.total.fmax_mhz >= 1000.0 / period  # stages sized with a clock margin
    slow, fast = estimate(g, Target(clock_period_ns=5.0)), estimate(g, Target(clock_period_ns=2.5))
    assert fast.total.latency_cycles > slow.total.latency_cycles  # a faster clock needs more stages
