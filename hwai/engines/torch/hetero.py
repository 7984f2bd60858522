"""hwai's differentiable-bit-width QAT for torch: the HGQ method (Sun et al., arXiv 2405.00645).

``quantize: {method: hgq, beta: 1e-5, epochs: 20, init_bits: 6}`` turns a float chain of
Linear/ReLU layers into a heterogeneous fixed-point network and fine-tunes it:

- every **weight** and bias has its own learnable number of fractional bits ``f``; the
  weight is ``round(w * 2**f) / 2**f``, so a weight that rounds to 0 is pruned (0 bits).
  Its integer bits are those of its own value (a constant needs no overflow mode);
- every **input feature** (``input_quant``) and every **neuron after a ReLU**
  (``<relu>_quant``) has its own ``f``; its integer bits and sign come from the min/max
  of the quantized values over the training data (traced once after training, as HGQ's
  ``trace_minmax``): unsigned after a ReLU, signed where a feature goes negative;
- rounding is **RND** (round half up, ``floor(x * 2**f + 0.5)``: HGQ's ``standard_round``
  and the cheapest ap_fixed rounding, one half-LSB adder) and overflow is **SAT** at the
  traced range, so beyond-training values clip rather than wrap. Both are ap_fixed modes,
  so the firmware cast reproduces the torch forward pass exactly;
- the loss is ``cross-entropy + beta * EBOPs`` with EBOPs = sum over dense layers and
  non-zero weights of ``bits(x_i) * bits(w_ij)`` (the IR's definition,
  :func:`hwai.estimate.rules.ebops`, which the engine's ``ebops`` reports exactly): ``f`` goes through ``round`` with a straight-through
  gradient, the value's own gradient is straight-through, and ``f`` gets HGQ's surrogate
  gradient ``d xq / d f = -ln 2 * (xq - x)`` (the rounding error halves per extra bit).

Eval mode computes in float64 on exact dyadic values: each product and partial sum of a
layer has at most ``accum width`` <= 53 significant bits (checked by :func:`lower_hetero`),
so the torch logits equal the golden model's bit for bit. Pruned zeros of an earlier prune
step stay zero (a fixed mask). Brevitas can express per-tensor/per-channel widths, not
per-weight ones: see :func:`to_brevitas_export` and ``docs/torch_hetero.md``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hwai.data.dataset import Dataset
from hwai.engines.core import FINETUNE_EPOCHS, HGQ_BETA, HGQ_INIT_BITS, seed_everything, train_config, zero_fraction
from hwai.errors import RecipeError, UnsupportedLayerError

METHOD = "hgq"
# The Keras hgq engine's defaults (HGQ's own): start from 2 bits — 2 significant bits per
# weight (HGQ's ``adapt_bw_bits``), 2 fractional bits per activation — and beta 1e-5.
FRAC_RANGE = (-8.0, 16.0)  # learnable f is clipped here (HGQ clips at +-23 for float32's mantissa)
LAYER_TYPES = ("HQuant", "HDense")
_LN2 = math.log(2.0)
SKIP_LAYERS = ("Dropout", "Identity", "Flatten")


# --- the two quantized building blocks -------------------------------------------------

def _fake_quant(x: Any, frac: Any) -> Any:
    """Training-time RND quantization onto ``2**-round(frac)``: straight-through for ``x``,
    HGQ's surrogate ``-ln2 * (xq - x)`` for ``frac``."""
    scale = torch.exp2(torch.round(frac).detach())
    delta = (torch.floor(x * scale + 0.5) / scale - x).detach()
    prod = delta * frac * _LN2
    return x + (delta + prod).detach() - prod


def exact_codes(x: Any, frac: Any) -> tuple[Any, Any]:
    """Eval-time float64 codes ``floor(x * 2**f + 0.5)`` and ``f`` (exact: power-of-two scale)."""
    f = torch.round(frac.detach()).double()
    return torch.floor(x.double() * torch.exp2(f) + 0.5), f


def _ste_round(frac: Any) -> Any:
    return frac + (torch.round(frac) - frac).detach()


class HQuant(nn.Module):
    """Per-element quantizer of a layer's input or of a ReLU's output (learnable ``f``)."""

    def __init__(self, n: int, init_bits: float = HGQ_INIT_BITS) -> None:
        super().__init__()
        self.frac = torch.nn.Parameter(torch.full((n,), float(init_bits)))
        for name, dtype in (("lo", torch.float32), ("hi", torch.float32), ("width", torch.int64),
                            ("integer", torch.int64)):
            self.register_buffer(name, torch.zeros(n, dtype=dtype))
        self.register_buffer("signed", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("calibrated", torch.tensor(False))

    def forward(self, x: Any) -> Any:
        if self.training:
            xq = _fake_quant(x, self.frac)
            self._record(xq.detach())
            return xq
        codes, f = exact_codes(x, self.frac)
        if bool(self.calibrated):   # SAT at the traced range; 0-bit elements are constant 0
            codes = torch.clamp(codes, *self.code_range())
        return codes * torch.exp2(-f)

    def _record(self, xq: Any) -> None:
        self.lo.copy_(torch.minimum(self.lo, xq.amin(0)))
        self.hi.copy_(torch.maximum(self.hi, xq.amax(0)))

    def reset_record(self) -> None:
        self.lo.zero_()
        self.hi.zero_()

    def code_range(self) -> tuple[Any, Any]:
        """(qmin, qmax) per element of the calibrated types, float64."""
        w = self.width.double()
        top = torch.exp2(w - self.signed.double())
        zero = torch.zeros_like(w)
        live = w > 0                    # width 0: the constant 0, signed or not
        return torch.where(live & self.signed, -top, zero), torch.where(live, top - 1, zero)

    def bits(self) -> Any:
        """Differentiable width per element for the EBOPs term: integer bits from the
        recorded range (constant), fractional bits straight-through, sign where negative."""
        mag = torch.maximum(self.lo.abs(), self.hi.abs())
        ibits = torch.floor(torch.log2(torch.where(mag > 0, mag, torch.ones_like(mag)))) + 1
        bits = torch.relu(ibits + _ste_round(self.frac) + (self.lo < 0).float())
        return torch.where(mag > 0, bits, torch.zeros_like(bits))


class HDense(nn.Module):
    """Linear layer with a learnable fractional bit count per weight and per bias."""

    def __init__(self, n_in: int, n_out: int, bias: bool = True, init_bits: float = HGQ_INIT_BITS) -> None:
        super().__init__()
        self.in_features, self.out_features = int(n_in), int(n_out)
        self.weight = torch.nn.Parameter(torch.zeros(n_out, n_in))
        self.wfrac = torch.nn.Parameter(torch.full((n_out, n_in), float(init_bits)))
        self.bias = torch.nn.Parameter(torch.zeros(n_out)) if bias else None
        self.bfrac = torch.nn.Parameter(torch.full((n_out,), float(init_bits))) if bias else None
        self.register_buffer("mask", torch.ones(n_out, n_in))   # 0 = pruned before, stays 0

    def forward(self, x: Any) -> Any:

        if self.training:
            b = None if self.bias is None else _fake_quant(self.bias, self.bfrac)
            return F.linear(x, self.fake_weight(), b)
        w, b = self.exact_params()
        return F.linear(x.double(), w, b)

    def fake_weight(self) -> Any:
        return _fake_quant(self.weight * self.mask, self.wfrac)

    def exact_params(self) -> tuple[Any, Any]:
        """float64 weight and bias exactly as the firmware holds them."""
        codes, f = exact_codes(self.weight.detach() * self.mask, self.wfrac)
        w = codes * torch.exp2(-f)
        if self.bias is None:
            return w, None
        bc, bf = exact_codes(self.bias.detach(), self.bfrac)
        return w, bc * torch.exp2(-bf)

    def bits(self) -> Any:
        """Differentiable magnitude bits per weight (0 when it rounds to 0): HGQ's kernel
        bits and the IR's EBOPs ``odd_bits`` (a weight's sign costs no multiplier work)."""
        wq = self.fake_weight()
        mag = wq.abs()
        nz = mag > 0
        ibits = torch.floor(torch.log2(torch.where(nz, mag, torch.ones_like(mag)))).detach() + 1
        return torch.where(nz, torch.relu(ibits + _ste_round(self.wfrac)), torch.zeros_like(mag))


# --- model structure -------------------------------------------------------------------

def is_hetero(model: Any) -> bool:
    """True for a model this module built (it holds HQuant/HDense layers)."""
    return any(type(m).__name__ in LAYER_TYPES for m in model.modules())


def dense_pairs(model: Any) -> list[tuple[str, Any, Any]]:
    """(name, HDense, the HQuant feeding it) in order; the quantizer gives bits(x_i)."""
    out, last = [], None
    for name, mod in model.named_children():
        if isinstance(mod, HQuant):
            last = mod
        elif isinstance(mod, HDense):
            out.append((name, mod, last))
            last = None
    return out


def _float_chain(model: Any) -> list[tuple[str, Any]]:
    from hwai.frontends.brevitas import check_supported

    layers = check_supported(model)
    for name, mod in layers:
        kind = type(mod).__name__
        if kind not in ("Linear", "ReLU") + SKIP_LAYERS:
            raise UnsupportedLayerError(f"layer {name!r} ({kind}): quantize.method hgq starts from a float "
                                        "Linear/ReLU chain; put it before any other quantize step")
    return layers


def to_hetero(model: Any, init_bits: float) -> Any:
    """The heterogeneous twin of a float chain: float weights copied in, zeros masked."""
    layers: list[tuple[str, nn.Module]] = []
    arch: list[dict] = []
    width = None
    for name, mod in _float_chain(model):
        key = name.replace(".", "_")
        if isinstance(mod, nn.Linear):
            if width is None:
                layers.append(("input_quant", HQuant(mod.in_features, init_bits)))
                arch.append({"name": "input_quant", "type": "HQuant", "n": mod.in_features})
            elif not isinstance(layers[-1][1], HQuant):
                raise UnsupportedLayerError(f"layer {name!r}: quantize.method hgq needs a ReLU between "
                                            "Linear layers (its activation quantizer sits after the ReLU)")
            layers.append((key, _dense_from(mod, init_bits)))
            arch.append({"name": key, "type": "HDense", "in": mod.in_features, "out": mod.out_features,
                         "bias": mod.bias is not None})
            width = mod.out_features
        elif isinstance(mod, nn.ReLU) and width is not None:
            layers += [(key, nn.ReLU()), (key + "_quant", HQuant(width, init_bits))]
            arch += [{"name": key, "type": "ReLU"}, {"name": key + "_quant", "type": "HQuant", "n": width}]
    qmodel = nn.Sequential(OrderedDict(layers))
    qmodel.hwai_arch = arch
    return qmodel


def _dense_from(mod: Any, init_bits: float) -> HDense:
    """HDense with ``mod``'s float weights and ``init_bits`` significant bits per weight."""
    d = HDense(mod.in_features, mod.out_features, mod.bias is not None, init_bits)
    with torch.no_grad():
        d.weight.copy_(mod.weight)
        d.mask.copy_((mod.weight != 0).float())
        d.wfrac.copy_(_significant(mod.weight, init_bits))
        if mod.bias is not None:
            d.bias.copy_(mod.bias)
            d.bfrac.copy_(_significant(mod.bias, init_bits))
    return d


def _significant(w: Any, init_bits: float) -> Any:
    """Fractional bits giving each value ``init_bits`` significant bits (HGQ's adapt_bw_bits)."""
    mag = w.detach().abs()
    f = torch.where(mag > 0, init_bits - torch.log2(torch.where(mag > 0, mag, torch.ones_like(mag))),
                    torch.full_like(mag, float(init_bits)))
    return f.clamp(*FRAC_RANGE)


def layer_from_desc(d: dict) -> Any:
    """Rebuild one layer of :func:`to_hetero`'s ``hwai_arch`` (checkpoint restore)."""
    if d["type"] == "HQuant":
        return HQuant(int(d["n"]))
    return HDense(int(d["in"]), int(d["out"]), bool(d["bias"]))


# --- training ---------------------------------------------------------------------------

def hgq_config(cfg: dict) -> tuple[float, float]:
    """(beta, init_bits) of a ``quantize`` step with ``method: hgq``; one-line errors."""
    beta = HGQ_BETA if cfg.get("beta") is None else cfg["beta"]
    init = cfg.get("init_bits") or HGQ_INIT_BITS
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise RecipeError(f"quantize.beta {beta!r}: give a number >= 0 (the EBOPs penalty, e.g. 1e-5)")
    if isinstance(init, bool) or not isinstance(init, (int, float)) or not FRAC_RANGE[0] <= init <= FRAC_RANGE[1]:
        raise RecipeError(f"quantize.init_bits {init!r}: give a number of fractional bits in "
                          f"[{FRAC_RANGE[0]:g}, {FRAC_RANGE[1]:g}]")
    return float(beta), float(init)


def surrogate_ebops(model: Any) -> Any:
    """Differentiable EBOPs of the training state (HGQ's ``bops`` summed over layers)."""
    total = 0.0
    for _, dense, quant in dense_pairs(model):
        total = total + (dense.bits() * quant.bits()[None, :]).sum()
    return total


def quantize_hetero(model: Any, data: Dataset, cfg: dict, seed: int) -> Any:
    """Convert to a heterogeneous model, fine-tune with ``beta * EBOPs``, trace ranges."""
    from hwai.engines.torch.train import fit

    beta, init = hgq_config(cfg)
    seed_everything(int(seed), "torch")
    qmodel = to_hetero(model, init)
    quants = [m for m in qmodel.modules() if isinstance(m, HQuant)]

    def reset(epoch: int) -> None:   # ranges for the EBOPs term are per epoch (HGQ's ResetMinMax)
        for q in quants:
            q.reset_record()

    def clip() -> None:
        with torch.no_grad():
            for name, p in qmodel.named_parameters():
                if name.endswith("frac"):
                    p.clamp_(*FRAC_RANGE)

    # No early stopping: the penalty keeps shrinking the design, and the best-loss epoch is
    # usually an early, wide one (HGQ trains every epoch too).
    fit(qmodel, data, {**cfg, "epochs": train_config(cfg, FINETUNE_EPOCHS).epochs}, seed, tag="quantize",
        after_step=clip, before_epoch=reset, early_stop=False,
        penalty=lambda: beta * surrogate_ebops(qmodel) if beta else None)
    calibrate(qmodel, data.x_train)
    return qmodel.eval()


def calibrate(model: Any, x: np.ndarray, batch: int = 16384) -> None:
    """Integer bits and sign of every HQuant element from the quantized training values."""
    quants = [m for m in model.modules() if isinstance(m, HQuant)]
    seen: dict[int, list[Any]] = {id(q): [] for q in quants}
    hooks = [q.register_forward_hook(lambda m, i, o: seen[id(m)].append(_range_of(m, o))) for q in quants]
    model.eval()
    for q in quants:
        q.calibrated.fill_(False)
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch):
                model(torch.as_tensor(np.asarray(x[start:start + batch], np.float64)))
    finally:
        for h in hooks:
            h.remove()
    for q in quants:
        _set_types(q, seen[id(q)])


def _range_of(q: HQuant, out: Any) -> tuple[np.ndarray, np.ndarray]:
    codes = (out * torch.exp2(exact_codes(out[:1], q.frac)[1])).numpy()   # exact: power-of-two scale
    return codes.min(0), codes.max(0)


def _set_types(q: HQuant, ranges: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """width = :func:`hwai.ir.numeric.range_bits` of the traced code range (0 = always 0)."""
    from hwai.ir.numeric import range_bits

    lo = np.min([r[0] for r in ranges], axis=0).astype(np.int64)
    hi = np.max([r[1] for r in ranges], axis=0).astype(np.int64)
    width = np.array([range_bits(int(a), int(b)) for a, b in zip(lo, hi)], dtype=np.int64)
    f = torch.round(q.frac.detach()).long().numpy()
    q.width.copy_(torch.as_tensor(width))
    q.integer.copy_(torch.as_tensor(np.where(width > 0, width - f, 0)))
    q.signed.copy_(torch.as_tensor(lo < 0))
    q.calibrated.fill_(True)


# --- what the engine reports -----------------------------------------------------------

def weight_types(dense: HDense) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, widths, integers) per weight, shaped (out, in), each in its narrowest type:
    trailing zero bits are dropped, so ``0.5`` at ``f = 4`` is ``ap_fixed<2,1>`` (0 width = 0)."""
    codes, f = exact_codes(dense.weight.detach() * dense.mask, dense.wfrac)
    c, frac, width = narrowest(codes.long().numpy(), f.long().numpy())
    return c, width, np.where(width > 0, width - frac, 0)


def narrowest(codes: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(odd code, its fractional bits, signed width) of each ``codes * 2**-frac``; 0 stays 0."""
    from hwai.ir.numeric import signed_bits

    c, f = codes.astype(np.int64).copy(), np.broadcast_to(frac, codes.shape).astype(np.int64).copy()
    while True:
        even = (c != 0) & (c % 2 == 0)
        if not even.any():
            break
        c, f = np.where(even, c // 2, c), np.where(even, f - 1, f)
    width = np.array([signed_bits(int(v), int(v)) if v else 0 for v in c.ravel()], np.int64).reshape(c.shape)
    return c, f, width


def activation_widths(q: HQuant) -> np.ndarray:
    if not bool(q.calibrated):
        raise UnsupportedLayerError("the hgq model's activation ranges were never traced; "
                                    "run its quantize step to the end (calibrate)")
    return q.width.numpy().astype(np.int64)


def sparsity(model: Any) -> dict[str, float]:
    """Zero fraction of each layer's quantized weights (0-bit weights count as pruned)."""
    return {name: zero_fraction(weight_types(d)[0]) for name, d, _ in dense_pairs(model)}


def bit_widths(model: Any) -> dict[str, dict[str, float]]:
    """As the Keras hgq engine reports them: per dense layer the max/min/mean of its
    per-weight widths (``weight``, sign included, 0 = pruned) and of the neuron widths of the
    quantizer after its ReLU (``activation``); ``input_quant`` gets its own ``activation``."""
    out: dict[str, dict[str, float]] = {}
    current = None
    for name, mod in model.named_children():
        if isinstance(mod, HDense):
            current = name
            out[name] = _stats("weight", weight_types(mod)[1])
        elif isinstance(mod, HQuant):
            out.setdefault(current or name, {}).update(_stats("activation", activation_widths(mod)))
    return out


def _stats(key: str, w: np.ndarray) -> dict[str, float]:
    return {key: int(w.max(initial=0)), f"{key}_min": int(w.min(initial=0)),
            f"{key}_mean": round(float(w.mean()) if w.size else 0.0, 4)}
