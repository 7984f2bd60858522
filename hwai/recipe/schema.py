"""Recipe YAML -> validated, defaults-filled plain data.

The schema is declarative (``Field`` trees below) so that every error names the
file and the dotted field path, says what was expected, and suggests the closest
known key for typos. Validation happens before anything is written or trained.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hwai.codegen.emitters import BACKENDS, CSIM_BACKENDS
from hwai.engines.core import HGQ_BETA, HGQ_INIT_BITS
from hwai.errors import RecipeError
from hwai.ir.tables import DEFAULT_TABLE_BITS, MAX_TABLE_BITS
from hwai.recipe.budget_search import COSTS

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One recipe field: accepted Python types, default, choices, nested schema."""

    types: tuple[type, ...]
    default: Any = None
    choices: tuple[Any, ...] | None = None
    fields: Mapping[str, Field] | None = None     # nested mapping schema
    item: Field | None = None                      # list item schema
    values: Field | None = None                    # schema of every value of a free-keyed mapping
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None                     # a list needs at least this many items
    unique: bool = False                             # a list's items must differ
    pattern: str | None = None                       # a string must match (re.fullmatch)
    is_path: bool = False                            # a file path: resolved against the recipe's folder
    rules: tuple[Rule, ...] = ()                   # relations between a mapping's fields


@dataclass(frozen=True)
class Rule:
    """``mapping[low] <= mapping[high] + offset`` when both are set; ``why`` says the reason."""

    low: str
    high: str
    offset: int
    why: str

    def check(self, doc: Mapping[str, Any], ctx: str, path: str) -> None:
        lo, hi = doc.get(self.low), doc.get(self.high)
        if lo is not None and hi is not None and lo > hi + self.offset:
            raise RecipeError(f"{ctx}: {_join(path, self.low)}: {lo} is more than "
                              f"{self.high}{self.offset:+d} = {hi + self.offset} ({self.why})")


@dataclass(frozen=True)
class Together:
    """Fields that are given together or not at all (e.g. a fixed-point width and integer)."""

    keys: tuple[str, ...]
    example: str

    def check(self, doc: Mapping[str, Any], ctx: str, path: str) -> None:
        given = [k for k in self.keys if doc.get(k) is not None]
        if given and len(given) != len(self.keys):
            missing = next(k for k in self.keys if k not in given)
            raise RecipeError(f"{ctx}: {_join(path, missing)}: required together with "
                              f"{', '.join(given)} (e.g. {self.example})")


def F(*types: type, default: Any = None, **kw: Any) -> Field:
    return Field(tuple(types), default, **kw)


NUM = (int, float)
# QKeras quantized_bits / Brevitas signed fixed point: ``integer`` excludes the sign bit, so
# a signed quantizer has bits - integer - 1 fraction bits; more integer bits than that moves
# the grid's LSB above 1 and rounds typical weights (|w| < 1) to zero.
@dataclass(frozen=True)
class Requires:
    """``mapping[key] == value`` only with ``mapping[other] == need``; ``why`` says the reason."""

    key: str
    value: Any
    other: str
    need: Any
    why: str

    def check(self, doc: Mapping[str, Any], ctx: str, path: str) -> None:
        if doc.get(self.key) == self.value and doc.get(self.other) != self.need:
            raise RecipeError(f"{ctx}: {_join(path, self.key)}: {self.value!r} needs {self.other} "
                              f"{self.need}, got {doc.get(self.other)} ({self.why})")


SIGNED_Q = (Rule("integer", "bits", -1, "a signed quantizer keeps one bit for the sign; "
                 "larger integer leaves no fraction bits and rounds small weights to 0"),)
# quantized_relu is unsigned: every bit is magnitude, so integer may equal bits.
UNSIGNED_Q = (Rule("integer", "bits", 0, "a quantizer has no more integer bits than bits"),)
QSPEC = {"bits": F(int, minimum=1, maximum=32), "integer": F(int, minimum=-32, maximum=32)}
WIDTH_AND_INTEGER = (Together(("width", "integer"), "{width: 16, integer: 6}"),)
FIXED = {"width": F(int, minimum=1, maximum=62), "integer": F(int, minimum=-32, maximum=62),
         "signed": F(bool, default=True),
         "rounding": F(str, default="RND_CONV", choices=("TRN", "TRN_ZERO", "RND", "RND_ZERO",
                                                         "RND_MIN_INF", "RND_INF", "RND_CONV")),
         "overflow": F(str, default="SAT", choices=("WRAP", "SAT", "SAT_ZERO", "SAT_SYM"))}
LAYER_Q = {**QSPEC, "activation": F(dict, fields=QSPEC, rules=UNSIGNED_Q)}
# a C/C++ and Verilog identifier (emitted as a function, module and file name)
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
# a run folder name under runs/: no path separators, not '.' or '..'
RUN_NAME = r"(?!\.{1,2}$)[^/\\\x00]+"

MODEL = {
    "framework": F(str, default="keras", choices=("keras", "torch")),
    "arch": F(str, help="named architecture, e.g. jet_mlp"),
    "hidden": F(list, item=F(int, minimum=1), min_items=1, help="hidden layer widths, e.g. [64, 32, 32]"),
    "phi": F(list, item=F(int, minimum=1), min_items=1, help="arch deepsets/hybrid: per-particle widths, e.g. [64, 64, 64]"),
    "rho": F(list, item=F(int, minimum=1), min_items=1, help="arch deepsets/hybrid: widths after the pooling, e.g. [64, 32]"),
    "filters": F(list, item=F(int, minimum=1), min_items=1,
                 help="arch conv1d / conv2d_encoder: conv filters per layer, e.g. [16, 16] (conv2d_encoder: 3x3, "
                      "stride 2)"),
    "kernel": F(int, minimum=1, help="arch conv1d: kernel width (particles), e.g. 3"),
    "stride": F(int, minimum=1, help="arch conv1d: stride of every Conv1D, e.g. 1 or 2"),
    "head": F(str, choices=("pool", "flatten"), help="arch conv1d: average pooling or flatten before the Dense layers"),
    "path": F(str, is_path=True, help="model file (.h5/.keras/.json) or state dict (.pt)"),
    "weights": F(str, is_path=True, help="weights .h5 for a .json architecture"),
    "factory": F(str, help="torch: importable 'module:function' building the nn.Module"),
    "state_dict": F(str, is_path=True),
    "trust_pickle": F(bool, default=False),
    "latent": F(int, minimum=1, help="arch dense_encoder/conv2d_encoder: latent size (default 8)"),
    "heads": F(list, item=F(int, minimum=1),
               help="arch multihead: Dense/ReLU widths of each output's own head after the shared trunk "
                    "(hidden), e.g. [16]; one head per outputs: entry"),
}
# anomaly detection (docs/anomaly.md): train on background only, the firmware outputs a score
ANOMALY = {
    "background": F(list, default=REQUIRED, item=F(str), min_items=1, unique=True,
                    help="classes the model learns (e.g. [g, q]); the rate is set on them"),
    "signals": F(list, default=REQUIRED, item=F(str), min_items=1, unique=True,
                 help="classes whose efficiency and AUC are reported (e.g. [W, Z, t])"),
    "rate": F(*NUM, default=0.01, minimum=1e-6, maximum=0.5,
              help="the background fraction the trigger keeps; sets the score threshold"),
    "score": F(str, default="latent_norm", choices=("latent_norm", "mahalanobis"),
               help="latent_norm: Σ z² of the latent means standardised on the background; mahalanobis: "
                    "whitened with the background's latent covariance (folded into the mu layer)"),
}
# several model outputs (``outputs:``): what each one is, in the model's output order
OUTPUT_TASKS = ("classify", "score")
OUTPUT = {
    "name": F(str, default=REQUIRED, pattern=IDENTIFIER,
              help="the output's name in the reports: letters, digits, _; not starting with a digit"),
    "task": F(str, default="classify", choices=OUTPUT_TASKS,
              help="classify: softmax over the data classes, labels y; score: one column, signal vs background"),
    "signals": F(list, item=F(str), min_items=1, unique=True,
                 help="task score: the classes the score should keep (e.g. [t])"),
    "background": F(list, item=F(str), min_items=1, unique=True,
                    help="task score: the classes the rate is set on (e.g. [g, q]); other classes weigh 0 in training"),
    "rate": F(*NUM, default=0.01, minimum=1e-6, maximum=0.5,
              help="task score: the background fraction the trigger keeps; sets the score threshold"),
}
DATA = {
    "source": F(str, default="openml:hls4ml_lhc_jets_hlf", is_path=True,
                help="data file (relative to the recipe's folder) or openml:hls4ml_lhc_jets_hlf"),
    "features": F(str, list, default="X"),
    "labels": F(str, default="y"),
    "class_names": F(list, item=F(str), min_items=2, unique=True),
    "standardize": F(str, default="standard", choices=("standard", "none")),
    "split": F(dict, default={}, fields={"train": F(*NUM, default=0.6, minimum=0, maximum=1),
                             "val": F(*NUM, default=0.2, minimum=0, maximum=1),
                             "test": F(*NUM, default=0.2, minimum=0, maximum=1)}),
    "max_rows": F(int, minimum=10),
    "inputs": F(str, default="features", choices=("features", "particles", "particles+features", "image"),
                help="features: a flat (N, F) array; particles: (N, P, F) sets with a padding mask; "
                     "particles+features: both, as two model inputs; "
                     "image: an eta-phi pT image per jet built from the particles (docs/anomaly.md)"),
    "image": F(dict, fields={
        "size": F(int, default=16, minimum=2, help="pixels per side"),
        "extent": F(*NUM, default=0.8, minimum=0.01, help="half-width of the grid in eta and phi"),
        "center": F(str, default="axis", choices=("axis", "centroid"),
                    help="axis: the jet axis at the centre; centroid: the pT-weighted centroid"),
        "normalize": F(str, default="sum", choices=("sum", "none"),
                       help="sum: each image divided by its total pT; none: pT / jet pT"),
        "flatten": F(bool, default=False, help="rows of size*size pixels instead of (size, size, 1)"),
        "scale": F(str, default="linear", choices=("linear", "sqrt", "log"),
                   help="pixel values after normalize: linear; sqrt; log: log(1 + v/log_eps) / log(1 + 1/log_eps)"),
        "log_eps": F(*NUM, default=0.01, minimum=1e-9, help="scale: log: the pixel value where the log bends")},
        help="inputs: image: the grid (hwai/data/images.py)"),
    "particles": F(str, default="Xp", help="inputs: particles: the (N, P, F) array's key"),
    "mask": F(str, default="mask", help="inputs: particles: the (N, P) real-particle mask's key"),
    "max_particles": F(int, minimum=1,
                       help="inputs: particles: keep the leading N particles of each set (the file's order, "
                            "e.g. pT-descending)"),
    "clip_quantile": F(*NUM, default=0.001, minimum=0, maximum=0.49,
                       help="inputs: particles: clip each feature to these quantiles of real train particles"),
}
TARGET = {
    "part": F(str, default="xcvu9p-flga2104-2L-e"),
    "clock_period_ns": F(*NUM, default=5.0, minimum=0.5, maximum=100),
    "io_type": F(str, default="io_parallel", choices=("io_parallel", "io_stream"),
                 help="the hls4ml project's interface: io_parallel (arrays, whole design pipelined) or "
                      "io_stream (hls::stream FIFOs between layers, one row of a shaped tensor per read); "
                      "native HLS and Verilog are always io_parallel"),
    "flavour": F(str, default="vitis", choices=("vitis", "vivado")),
    "project_name": F(str, default="myproject", pattern=IDENTIFIER,
                      help="a C and Verilog identifier: letters, digits, _; not starting with a digit"),
}
BUDGET = {
    "lut": F(int, minimum=0), "ff": F(int, minimum=0), "dsp": F(int, minimum=0),
    "bram": F(int, minimum=0), "latency_ns": F(*NUM, minimum=0),
    "latency_cycles": F(int, minimum=0), "ii": F(int, minimum=1),
    "on_fail": F(str, default="error", choices=("error", "warn")),
}
TRAIN = {"epochs": F(int, default=20, minimum=0), "batch_size": F(int, default=512, minimum=1),
         "learning_rate": F(*NUM, default=3e-3, minimum=0), "patience": F(int, default=5, minimum=0),
         "lr_schedule": F(str, default="constant", choices=("constant", "cosine"),
                          help="constant, or cosine: decays to ~0 over the step's epochs (set once per epoch)")}
# Fields of the quantize step that only one quantize.method reads (the others ignore them).
QUANTIZE_METHOD_FIELDS = {"uniform": ("bits", "integer", "activation", "input", "layers"),
                          "hgq": ("beta", "search", "init_bits")}


def ignored_fields(step: str, cfg: Mapping[str, Any]) -> set[str]:
    """Fields of ``step``'s config ``cfg`` that its chosen method does not read (quantize:
    the other method's fields), so reports and sweeps do not show them as settings."""
    if step != "quantize":
        return set()
    method = cfg.get("method") or "uniform"
    return {f for m, names in QUANTIZE_METHOD_FIELDS.items() if m != method for f in names}


STEPS: dict[str, dict[str, Field]] = {
    "train": {**TRAIN, "kl_weight": F(*NUM, default=1.0, minimum=0,
                                      help="anomaly: weight of the VAE's KL term (0: a plain autoencoder)")},
    "prune": {**TRAIN, "epochs": F(int, default=10, minimum=0),
              "sparsity": F(*NUM, default=0.7, minimum=0, maximum=0.99),
              "schedule": F(str, default="polynomial", choices=("polynomial", "constant")),
              "structured": F(bool, default=False),
              "skip_layers": F(list, default=[], item=F(str)),
              "layers": F(dict, default={}, values=F(*NUM, minimum=0, maximum=0.99),
                          help="final sparsity per layer by name, instead of prune.sparsity (e.g. keep the "
                               "layers that are built once denser than the per-particle ones built 32 times)")},
    "quantize": {**TRAIN, "epochs": F(int, default=10, minimum=0),
                 "bits": F(int, default=6, minimum=1, maximum=32),
                 "integer": F(int, default=0, minimum=-32, maximum=32),
                 "activation": F(dict, fields=QSPEC, rules=UNSIGNED_Q),
                 "input": F(dict, fields=QSPEC, rules=SIGNED_Q),
                 "layers": F(dict, default={}, values=F(dict, fields=LAYER_Q, rules=UNSIGNED_Q)),
                 "method": F(str, default="uniform", choices=("uniform", "hgq"),
                             help="uniform: bits/integer per layer (QKeras, Brevitas); hgq: a width per weight "
                                  "and per neuron learned with the EBOPs penalty beta (Keras: HGQ 0.2.6; torch: "
                                  "hwai's own, docs/torch_hetero.md)"),
                 "beta": F(*NUM, default=HGQ_BETA, minimum=0, maximum=1e-2,
                           help="hgq: EBOPs penalty in the loss; larger = smaller design (jets: 1e-6..3e-5)"),
                 "search": F(dict, fields={
                     "cost": F(str, choices=COSTS,
                               help="hgq: find beta so that this cost fits (lut: hwai's estimate vs budget.lut; yosys: "
                                    "each run synthesized with Yosys, about a minute per run; ebops)"),
                     "limit": F(*NUM, minimum=0, help="the cost limit (default: budget.lut)"),
                     "runs": F(int, default=3, minimum=1, maximum=20,
                               help="full trainings at most (power-law steps on log cost vs log beta)"),
                     "beta_start": F(*NUM, default=1e-5, minimum=0, help="the first run's beta"),
                     "beta_min": F(*NUM, default=1e-8, minimum=0), "beta_max": F(*NUM, default=1e-2, minimum=0)},
                     help="hgq: budget-driven penalty; the recipe states the budget, hwai finds beta"),
                 "init_bits": F(int, default=HGQ_INIT_BITS, minimum=1, maximum=16,
                                help="hgq: starting significant bits per weight and fractional bits "
                                     "per activation (HGQ's init_bw)")},
    "distill": {**TRAIN, "teacher": F(str, default="previous", is_path=True),
                "temperature": F(*NUM, default=4.0, minimum=0.01), "alpha": F(*NUM, default=0.1, minimum=0, maximum=1),
                "student": F(dict, fields=MODEL),
                "cache_dir": F(str, help="teacher-logit cache (default ~/.cache/hwai)")},
    "symbolic": {"engine": F(str, default="pyoperon", choices=("pyoperon", "pysr")),
                 "target": F(str, default="logits", choices=("logits", "labels")),
                 "operators": F(list, default=["add", "sub", "mul"], item=F(str)),
                 "max_complexity": F(int, default=20, minimum=1), "max_length": F(int, minimum=1),
                 "generations": F(int, default=50, minimum=1), "population_size": F(int, default=500, minimum=2),
                 "optimizer_iterations": F(int, minimum=0), "max_evaluations": F(int, minimum=1),
                 "time_limit_s": F(*NUM, default=60, minimum=1), "max_rows": F(int, default=5000, minimum=10),
                 "features": F(list, item=F(int, str)),
                 "input": F(dict, fields=FIXED, rules=WIDTH_AND_INTEGER,
                            help="input fixed-point type (default ap_fixed<16,6>)"),
                 "precision": F(dict, fields={**FIXED, "rounding": F(str, default="TRN", choices=FIXED["rounding"].choices)},
                                help="cap on intermediate widths"),
                 "output": F(dict, fields=FIXED),
                 "const": F(dict, fields={"width": F(int, minimum=2, maximum=32)}),
                 "lut": F(dict, fields={"size": F(int, minimum=2), "range": F(list, item=F(*NUM)),
                                        "width": F(int, minimum=2), "integer": F(int)}),
                 "select": F(dict, fields={"metric": F(str, default="accuracy"), "max_lut": F(int),
                                           "max_dsp": F(int), "max_latency_ns": F(*NUM),
                                           "max_complexity": F(int)})},
    "evaluate": {"signal_efficiency": F(*NUM, default=0.5, minimum=0.01, maximum=0.99)},
    "lower": {"input": F(dict, fields=FIXED, rules=WIDTH_AND_INTEGER),
              "weight": F(dict, fields=FIXED, rules=WIDTH_AND_INTEGER, help="default type for float weights"),
              "activation": F(dict, fields=FIXED, rules=WIDTH_AND_INTEGER,
                              help="default type for float activations"),
              "table": F(dict, fields={"bits": F(int, default=DEFAULT_TABLE_BITS, minimum=2, maximum=MAX_TABLE_BITS,
                                                 help="index bits of sigmoid/tanh tables (2**bits entries; "
                                                      "hls4ml's default table_size 1024)"),
                                       "width": F(int, minimum=2, maximum=32,
                                                  help="bits of a table entry (default: bits)")}),
              "output": F(str, default="logits", choices=("logits", "softmax"),
                          help="'softmax' keeps a final softmax in firmware (exp and inverse lookup "
                               "tables, hls4ml's softmax_stable); 'logits' drops it (argmax unchanged)"),
              "reuse_factor": F(int, default=1, minimum=1,
                                help="at most the smallest dense layer's n_in*n_out (checked at lower)"),
              "layers": F(dict, default={}, values=F(dict, fields={
                  "reuse_factor": F(int, minimum=1, help="this layer's reuse factor (instead of lower.reuse_factor)")}),
                          help="per-layer build settings by IR layer name (a Keras/torch layer's name; a "
                               "convolution's dense keeps its layer's name), e.g. {conv1: {reuse_factor: 4}}"),
              "arith": F(str, default="csd", choices=("csd", "da", "auto"),
                         help="how dense layers add up constant products in Verilog and native HLS: "
                              "'csd' one shift-add tree per neuron; 'da' one adder graph per layer with "
                              "partial sums shared across neurons (da4ml), needs reuse_factor 1; 'auto' "
                              "per layer 'da' where hwai's estimate finds it smaller and no slower, else 'csd'")},
    "estimate": {},
    "budget": {"on_fail": F(str, choices=("error", "warn")),
               "synth": F(bool, default=False, help="confirm LUT/FF/DSP with Yosys (slow; --synth)")},
    "emit": {"backend": F(str, list, default=list(CSIM_BACKENDS))},
    "csim": {"vectors": F(int, default=10000, minimum=1), "backend": F(str, list)},
    "synth": {"family": F(str, default="xcup", choices=("xcup", "xc7")), "dsp": F(bool, default=True),
              "timeout_s": F(int, default=900, minimum=1)},
    "rtl": {"vectors": F(int, default=100000, minimum=1),
            "simulator": F(str, default="verilator", choices=("verilator", "iverilog")),
            "timeout_s": F(int, float, default=600, minimum=1,
                           help="limit for building and for running the simulation (each); large "
                                "designs (a per-particle network over 32 particles) need more")},
}
# Relations between a step's own top-level fields (nested mappings carry theirs in Field.rules).
STEP_RULES: dict[str, tuple[Rule | Together | Requires, ...]] = {
    "quantize": SIGNED_Q,
    "lower": (Requires("arith", "da", "reuse_factor", 1, "a distributed-arithmetic layer is fully "
                       "unrolled; set reuse_factor: 1 or arith: csd"),)}
MODEL_STEPS = ("train", "prune", "quantize", "distill")   # change the framework model
IR_PRODUCERS = ("lower", "symbolic")                        # make the IR the IR steps work on
TRAINING_STEPS = (*MODEL_STEPS, "symbolic")
IR_STEPS = ("estimate", "budget", "emit", "csim", "synth", "rtl")

# hwai sweep's block; hwai.sweep.space checks the space's paths against this schema
SEARCH = {
    "trials": F(int, default=20, minimum=1),
    "time_limit_s": F(int, float, minimum=1, help="wall-clock limit of the whole sweep"),
    "max_concurrent": F(int, minimum=1, help="trials at once (default: the machine's or cluster's CPUs)"),
    "cpus_per_trial": F(int, float, default=1, minimum=0.1),
    "objective": F(dict, default={}, fields={
        "metric": F(str, default="accuracy", help="accuracy, macro_auc or rejection.<class>"),
        "cost": F(str, default="lut+dsp", choices=("lut", "lut+dsp", "latency_cycles", "synth_lut+dsp")),
        "dsp_lut": F(int, default=100, minimum=0, help="LUTs one DSP counts as in lut+dsp"),
        "within": F(int, float, minimum=0,
                    help="the chosen point is the cheapest on the front within this much of the best "
                         "physics (default: one standard error of the best accuracy from its test-set "
                         "size; 0 for other metrics)")}),
    "scheduler": F(dict, default={}, fields={
        "grace_period": F(int, default=2, minimum=1, help="reports a trial makes before ASHA may stop it"),
        "reduction_factor": F(int, default=3, minimum=2)}),
    "searcher": F(dict, default={}, fields={"n_startup_trials": F(int, default=8, minimum=1)}),
    "methods": F(dict, default={}, values=F(list, item=F(str, dict), min_items=1),
                 help="method -> its training steps: a step name, or {step: {settings}} that this method "
                      "alone sets on top of the recipe's step (e.g. {quantize: {method: hgq}})"),
    "space": F(dict, default={}, values=F(dict)),
}

RECIPE = {
    "name": F(str, default=REQUIRED, pattern=RUN_NAME,
              help="the run folder's name under runs/: no '/' or '\\', not '.' or '..'"),
    "description": F(str, default=""),
    "seed": F(int, default=0, minimum=0, maximum=2**32 - 1),
    "model": F(dict, default=REQUIRED, fields=MODEL),
    "data": F(dict, default={}, fields=DATA),
    "target": F(dict, default={}, fields=TARGET),
    "budget": F(dict, default={}, fields=BUDGET),
    "steps": F(list, default=REQUIRED),
    "search": F(dict, fields=SEARCH, help="hwai sweep: space, methods, objective (docs/sweep.md)"),
    "anomaly": F(dict, fields=ANOMALY, help="anomaly detection: background/signal classes and the rate"),
    "outputs": F(list, item=F(dict, fields=OUTPUT), min_items=1,
                 help="the model's outputs in order: {name, task: classify|score, ...}; default one classify output"),
}


@dataclass(frozen=True)
class Step:
    name: str
    cfg: Mapping[str, Any]
    index: int

    @property
    def folder(self) -> str:
        return f"{self.index:02d}_{self.name}"


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    description: str
    seed: int
    model: Mapping[str, Any]
    data: Mapping[str, Any]
    target: Mapping[str, Any]
    budget: Mapping[str, Any]
    steps: tuple[Step, ...]
    digest: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    anomaly: Mapping[str, Any] | None = None   # the anomaly: block (None: a classifier)
    outputs: tuple[Mapping[str, Any], ...] | None = None   # the outputs: block (None: one classifier)

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


class _Loader(yaml.SafeLoader):
    """YAML 1.1 (PyYAML) reads ``1e-5`` as a string: its float pattern wants a dot and a
    signed exponent. Recipes are written by people who mean the number (``beta: 1e-5``),
    so floats are resolved with YAML 1.2's core-schema pattern here."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load`` with YAML 1.2 floats (``1e-5`` is a number): every recipe-shaped text
    (recipe files, ``--set`` values, sweep spaces) goes through here."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; raise RecipeError with a one-line message."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    text = path.read_bytes()
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', err)})") from None
    return recipe_from_dict(doc, path, hashlib.sha256(text).hexdigest())


def recipe_from_dict(doc: Any, path: Path = Path("<recipe>"), digest: str = "") -> Recipe:
    ctx = str(path)
    if not isinstance(doc, dict):
        raise RecipeError(f"{ctx}: a recipe is a YAML mapping with keys {', '.join(RECIPE)}")
    top = validate_mapping(doc, RECIPE, ctx, "")
    base = Path(path).parent
    top = _resolve_paths(top, RECIPE, base)
    steps = tuple(Step(s.name, _resolve_paths(dict(s.cfg), STEPS[s.name], base), s.index)
                  for s in _validate_steps(top["steps"], ctx))
    _check_split(top["data"], ctx)
    _check_model(top["model"], ctx)
    _check_anomaly(top.get("anomaly"), steps, ctx, top["model"]["framework"])
    outputs = check_outputs(top, steps, ctx)
    return Recipe(path, top["name"], top["description"], top["seed"], top["model"], top["data"],
                  top["target"], top["budget"], steps, digest or _digest(doc), doc, top.get("anomaly"), outputs)


# steps an anomaly recipe cannot run yet: they train with a classification loss (prune and
# quantize fine-tune the autoencoder on the background, hwai/engines/keras/anomaly.py)
ANOMALY_REFUSED = ("distill", "symbolic")


def _check_anomaly(anomaly: Mapping[str, Any] | None, steps: tuple[Step, ...], ctx: str,
                   framework: str = "keras") -> None:
    if anomaly is None:
        return
    if framework != "keras":
        raise RecipeError(f"{ctx}: anomaly: needs model.framework keras (the VAE training is Keras-only)")
    check_signals_apart(anomaly, ctx, "anomaly")
    for s in steps:
        if s.name in ANOMALY_REFUSED:
            raise RecipeError(f"{ctx}: steps[{s.index - 1}].{s.name}: not supported with anomaly: yet "
                              "(it trains a classifier); train, then set the fixed-point types in lower "
                              "(weight/activation)")
        if s.name == "quantize" and s.cfg.get("method") == "hgq":
            raise RecipeError(f"{ctx}: steps[{s.index - 1}].quantize.method: hgq is not supported with "
                              "anomaly: yet; use method: uniform (QKeras bits/integer per layer)")


def anomaly_training(recipe: Recipe) -> dict[str, Any]:
    """The ``anomaly:`` block as the training steps get it, with the train step's ``kl_weight``:
    prune and quantize fine-tune the autoencoder with the loss it was trained with."""
    kl = next((s.cfg.get("kl_weight") for s in recipe.steps if s.name == "train"), None)
    return {**dict(recipe.anomaly or {}), **({"kl_weight": kl} if kl is not None else {})}


# values of a path field that name no file
NOT_FILES = ("openml:", "previous")


def _resolve_paths(doc: dict, spec: Mapping[str, Field], base: Path) -> dict:
    """Relative file paths are relative to the recipe's folder (not the current directory),
    so a recipe runs the same from anywhere; the result holds absolute paths."""
    out = dict(doc)
    for key, fld in spec.items():
        value = out.get(key)
        if fld.is_path and isinstance(value, str) and not value.startswith(NOT_FILES):
            out[key] = os.path.normpath(os.path.abspath(base / Path(value).expanduser()))
        elif fld.fields is not None and isinstance(value, dict):
            out[key] = _resolve_paths(value, fld.fields, base)
    return out


def with_absolute_paths(recipe: Recipe) -> dict:
    """The recipe's document with every relative file path made absolute, so a copy of it
    written elsewhere (a run's ``recipe.yaml``) names the same files."""
    base = Path(recipe.path).parent
    doc = _resolve_paths(dict(recipe.raw), RECIPE, base)
    steps = []
    for item in doc.get("steps") or []:
        if isinstance(item, dict) and len(item) == 1:
            (name, cfg), = item.items()
            if isinstance(cfg, dict) and name in STEPS:
                item = {name: _resolve_paths(cfg, STEPS[name], base)}
        steps.append(item)
    return {**doc, "steps": steps}


def merge_overrides(doc: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """``doc`` with ``overrides`` deep-merged into it (mappings merge, any other value replaces):
    ``hwai.api.load``'s and ``hwai sweep --set``'s one way of applying overrides."""
    out = dict(doc)
    for k, v in overrides.items():
        out[k] = merge_overrides(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _digest(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def validate_mapping(doc: Mapping, spec: Mapping[str, Field], ctx: str, path: str) -> dict:
    out: dict[str, Any] = {}
    for key in doc:
        if key not in spec:
            raise RecipeError(f"{ctx}: {_join(path, key)}: unknown key{suggest(str(key), spec)}")
    for key, fld in spec.items():
        if key in doc and doc[key] is not None:
            out[key] = validate_value(doc[key], fld, ctx, _join(path, key))
        elif fld.default is REQUIRED:
            raise RecipeError(f"{ctx}: {_join(path, key)}: required field is missing")
        elif fld.fields is not None and isinstance(fld.default, dict):
            out[key] = validate_mapping(fld.default, fld.fields, ctx, _join(path, key))
        else:
            out[key] = fld.default
    return out


def validate_value(value: Any, fld: Field, ctx: str, path: str) -> Any:
    if isinstance(value, bool) and bool not in fld.types:
        raise RecipeError(f"{ctx}: {path}: expected {_names(fld.types)}, got a boolean")
    if not isinstance(value, fld.types):
        if float in fld.types and isinstance(value, int):
            value = float(value)
        else:
            raise RecipeError(f"{ctx}: {path}: expected {_names(fld.types)}, got {type(value).__name__} {value!r}")
    if fld.choices is not None and value not in fld.choices:
        raise RecipeError(f"{ctx}: {path}: {value!r} is not one of {', '.join(map(str, fld.choices))}"
                          f"{suggest(str(value), fld.choices)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if fld.minimum is not None and value < fld.minimum:
            raise RecipeError(f"{ctx}: {path}: {value} is below the minimum {fld.minimum}")
        if fld.maximum is not None and value > fld.maximum:
            raise RecipeError(f"{ctx}: {path}: {value} is above the maximum {fld.maximum}")
    if isinstance(value, str) and fld.pattern is not None and not re.fullmatch(fld.pattern, value):
        raise RecipeError(f"{ctx}: {path}: {value!r} is not allowed; {fld.help}")
    if isinstance(value, list):
        _check_items(value, fld, ctx, path)
    if isinstance(value, dict) and fld.fields is not None:
        return _checked(validate_mapping(value, fld.fields, ctx, path), fld.rules, ctx, path)
    if isinstance(value, dict) and fld.values is not None:
        return {k: validate_value(v, fld.values, ctx, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list) and fld.item is not None:
        return [validate_value(v, fld.item, ctx, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _check_items(value: list, fld: Field, ctx: str, path: str) -> None:
    if fld.min_items is not None and len(value) < fld.min_items:
        raise RecipeError(f"{ctx}: {path}: needs at least {fld.min_items} item(s), got {len(value)}")
    if fld.unique:
        dup = sorted({str(v) for v in value if value.count(v) > 1})
        if dup:
            raise RecipeError(f"{ctx}: {path}: {', '.join(dup)} given more than once; names must differ")


def _checked(doc: dict, rules: tuple[Rule | Together | Requires, ...], ctx: str, path: str) -> dict:
    for rule in rules:
        rule.check(doc, ctx, path)
    return doc


def _validate_steps(items: list, ctx: str) -> tuple[Step, ...]:
    steps = []
    for i, item in enumerate(items):
        name, cfg = _step_entry(item, ctx, i)
        if name not in STEPS:
            raise RecipeError(f"{ctx}: steps[{i}]: unknown step {name!r}{suggest(name, STEPS)}"
                              f" (steps: {', '.join(STEPS)})")
        cfg = _checked(validate_mapping(cfg, STEPS[name], ctx, f"steps[{i}].{name}"),
                       STEP_RULES.get(name, ()), ctx, f"steps[{i}].{name}")
        if name in ("emit", "csim"):
            _check_backends(cfg, ctx, f"steps[{i}].{name}")
        steps.append((name, cfg))
    _check_order([n for n, _ in steps], ctx)
    steps = _insert_lower(steps)
    return tuple(Step(n, c, k + 1) for k, (n, c) in enumerate(steps))


def _step_entry(item: Any, ctx: str, i: int) -> tuple[str, dict]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        (name, cfg), = item.items()
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, dict):
            raise RecipeError(f"{ctx}: steps[{i}].{name}: expected a mapping of options, got {cfg!r}")
        return str(name), cfg
    raise RecipeError(f"{ctx}: steps[{i}]: write a step as '- name' or '- name: {{options}}'")


def _check_backends(cfg: dict, ctx: str, path: str) -> None:
    for key in ("backend",):
        val = cfg.get(key)
        if val is None:
            continue
        vals = [val] if isinstance(val, str) else val
        for v in vals:
            if v not in BACKENDS:
                raise RecipeError(f"{ctx}: {path}.{key}: {v!r} is not one of {', '.join(BACKENDS)}"
                                  f"{suggest(str(v), BACKENDS)}")
        cfg[key] = list(vals)


def _check_order(names: list[str], ctx: str) -> None:
    """Training-level steps before the IR exists, IR steps after it, csim after emit.

    A step in the wrong place would run on the wrong thing (a prune after lower changes a
    model nobody lowers again), so the order is an error, not a silent no-op.
    """
    producers = [i for i, n in enumerate(names) if n in IR_PRODUCERS]
    if len(producers) > 1:
        i = producers[1]
        raise RecipeError(f"{ctx}: steps[{i}].{names[i]}: the IR is already made by "
                          f"steps[{producers[0]}].{names[producers[0]]}; keep one lower or symbolic step")
    # without an explicit lower, one is inserted after the last training-level step
    cut = producers[0] if producers else max([i for i, n in enumerate(names) if n in MODEL_STEPS],
                                             default=-1) + 0.5
    for i, n in enumerate(names):
        if n in MODEL_STEPS and i > cut:
            raise RecipeError(f"{ctx}: steps[{i}].{n}: comes after steps[{int(cut)}].{names[int(cut)]}, "
                              f"so its model would never reach the firmware; move it before {names[int(cut)]}")
        if n in IR_STEPS and i < cut:
            where = f"steps[{int(cut)}].{names[int(cut)]}" if producers else "the training-level steps"
            raise RecipeError(f"{ctx}: steps[{i}].{n}: works on the lowered IR, so it must come after {where}")
    _check_after(names, "csim", "emit", ctx)


def _check_after(names: list[str], consumer: str, producer: str, ctx: str) -> None:
    if consumer in names and producer not in names[:names.index(consumer)]:
        i = names.index(consumer)
        raise RecipeError(f"{ctx}: steps[{i}].{consumer}: needs an earlier '{producer}' step "
                          f"(it simulates what {producer} wrote)")


def _insert_lower(steps: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """IR-level steps need the IR: insert ``lower`` after the last training step if absent.

    A ``symbolic`` step produces the IR itself (the expressions), so it takes lower's place.
    """
    names = [n for n, _ in steps]
    if "lower" in names or "symbolic" in names or not any(n in IR_STEPS for n in names):
        return steps
    last = max([i for i, n in enumerate(names) if n in TRAINING_STEPS + ("evaluate",)], default=-1)
    defaults = validate_mapping({}, STEPS["lower"], "", "")
    return steps[:last + 1] + [("lower", defaults)] + steps[last + 1:]


def _check_split(data: dict, ctx: str) -> None:
    s = data["split"]
    total = s["train"] + s["val"] + s["test"]
    if abs(total - 1.0) > 1e-6:
        raise RecipeError(f"{ctx}: data.split: fractions add up to {total:g}, not 1")


def _check_model(model: dict, ctx: str) -> None:
    ways = [k for k in ("arch", "path", "factory") if model.get(k)]
    if len(ways) != 1:
        raise RecipeError(f"{ctx}: model: give exactly one of arch (e.g. jet_mlp), path, or factory "
                          f"(got {', '.join(ways) or 'none'})")
    if model.get("factory") and model["framework"] != "torch":
        raise RecipeError(f"{ctx}: model.factory: only for framework: torch")


# steps that train one loss or fit one output: not with several outputs yet
OUTPUTS_REFUSED = ("distill", "symbolic")


def check_outputs(top: Mapping[str, Any], steps: tuple[Step, ...], ctx: str) -> tuple[dict, ...] | None:
    """The ``outputs:`` block's rules that need neither data nor model (run at load);
    class names too when ``data.class_names`` states them. None: one classification output."""
    outputs = top.get("outputs")
    if outputs is None:
        return None
    if top.get("anomaly") is not None:
        raise RecipeError(f"{ctx}: outputs: give either anomaly: (one score output) or outputs:, not both")
    _refuse_output_steps(steps, ctx)
    names = [o["name"] for o in outputs]
    for i, o in enumerate(outputs):
        if names.index(o["name"]) != i:
            raise RecipeError(f"{ctx}: outputs[{i}].name: {o['name']!r} given more than once; names must differ")
        _check_output_task(o, ctx, f"outputs[{i}]")
    if top["data"].get("class_names"):
        check_output_classes(outputs, top["data"]["class_names"], ctx)
    return tuple(dict(o) for o in outputs)


def _refuse_output_steps(steps: tuple[Step, ...], ctx: str) -> None:
    for s in steps:
        if s.name in OUTPUTS_REFUSED or (s.name == "quantize" and s.cfg.get("method") == "hgq"):
            what = "quantize.method hgq" if s.name == "quantize" else s.name
            raise RecipeError(f"{ctx}: steps[{s.index - 1}].{s.name}: {what} is not supported with outputs: yet "
                              "(it trains or fits one output); use train, prune and quantize (uniform)")


def _check_output_task(o: Mapping[str, Any], ctx: str, path: str) -> None:
    """A score names its signal and background classes (apart); a classify output names neither."""
    for key in ("signals", "background"):
        if o["task"] == "score" and not o.get(key):
            raise RecipeError(f"{ctx}: {path}.{key}: required for task: score (e.g. signals: [t], background: [g, q])")
        if o["task"] == "classify" and o.get(key):
            raise RecipeError(f"{ctx}: {path}.{key}: only for task: score (a classify output uses every class)")
    check_signals_apart(o, ctx, path)


def check_signals_apart(block: Mapping[str, Any], ctx: str, path: str) -> None:
    """No class is both a signal and background (an ``anomaly:`` block or a score output)."""
    both = sorted(set(block.get("signals") or ()) & set(block.get("background") or ()))
    if both:
        raise RecipeError(f"{ctx}: {path}.signals: {both[0]!r} is also a background class")


def check_output_classes(outputs: Any, class_names: Any, ctx: str) -> None:
    """Every class a score output names is one of the data's classes."""
    known = [str(c) for c in class_names]
    for i, o in enumerate(outputs):
        for key in ("signals", "background"):
            for c in o.get(key) or ():
                if c not in known:
                    raise RecipeError(f"{ctx}: outputs[{i}].{key}: class {c!r} is not in the data's classes "
                                      f"({', '.join(known)}){suggest(str(c), known)}")


def check_output_widths(outputs: Any, widths: list[int], class_names: Any, ctx: str) -> None:
    """One entry per model output; a classify output has one column per class, a score one column."""
    if len(outputs) != len(widths):
        raise RecipeError(f"{ctx}: outputs: {len(outputs)} entries but the model has {len(widths)} output(s) "
                          f"(widths {', '.join(map(str, widths))}); give one entry per output, in order")
    for i, (o, w) in enumerate(zip(outputs, widths)):
        need = 1 if o["task"] == "score" else len(class_names)
        if w != need:
            what = "one column" if o["task"] == "score" else f"one column per class ({', '.join(map(str, class_names))})"
            raise RecipeError(f"{ctx}: outputs[{i}].task: {o['task']} takes {what}, but model output {i} "
                              f"({o['name']}) has {w}")


def without_none(value: Any) -> Any:
    """A validated section with absent (None) keys removed, recursively: engines and steps
    treat a missing key as 'use the default', which is what None means here."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _names(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
             list: "a list", dict: "a mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
