"""What every op provides, and the typed-attributes base class.

An op is one object (a subclass of :class:`Op`) registered in :data:`hwai.ops.OPS`.
Core modules (interpreter, fast path, precision pass, estimator, emitters, vectors,
synthesis split, reports) look the op up and call its hooks; they never test the op's
name. A hook an op does not implement raises a one-line error naming the node, so a
backend that cannot build an op says so instead of emitting something wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwai.errors import UnsupportedLayerError

if TYPE_CHECKING:  # annotations only: the graph module looks ops up, not the reverse
    from hwai.ir.graph import Graph, Node

IntArray = np.ndarray
Interval = tuple[np.ndarray, np.ndarray, int]


@dataclass(frozen=True, eq=False)
class OpAttrs(Mapping[str, Any]):
    """Typed, frozen attributes of one op. Also readable as the mapping the IR used to
    store (``attrs["weight"]``), so saved graphs and JSON keep their format."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, node: str, op: str, values: Mapping[str, Any]) -> OpAttrs:
        """Build from a dict (frontends, old checkpoints); unknown keys are an error."""
        from hwai.ir.graph import IRError

        extra = sorted(set(values) - set(cls._names()))
        if extra:
            raise IRError(f"node {node!r}: op {op!r} has no attribute(s) {', '.join(extra)} "
                          f"(known: {', '.join(cls._names()) or 'none'})")
        try:
            return cls(**dict(values))
        except TypeError as err:
            raise IRError(f"node {node!r}: op {op!r} attributes: {err}") from None


@dataclass(frozen=True, eq=False)
class NoAttrs(OpAttrs):
    """Ops whose behaviour is fully given by their input and output types."""


class Op:
    """Base op: every hook an op may implement. ``name`` is the IR's op string."""

    name: ClassVar[str]
    Attrs: ClassVar[type[OpAttrs]] = NoAttrs
    # How the estimator and vector search read a consumer of a dense output:
    zero_below: ClassVar[bool] = False      # output is 0 wherever the input is <= 0 (relu)
    cast_only: ClassVar[bool] = False       # reads at most out.frac + 1 input fraction bits
    reusable: ClassVar[bool] = False        # honours impl.reuse_factor (shares multipliers)
    starts_part: ClassVar[bool] = False     # hierarchical synthesis cuts the graph before it
    # Row ``r`` of the output (leading axes) depends on row ``r`` of the input alone, through the
    # same logic for every row (per-particle dense: shared weights; relu): synthesis can price one row.
    rowwise: ClassVar[bool] = False
    # The fast path (hwai.ir.fastpath): a float step exists; a power-of-two scale may be
    # folded into this op's weights (linear) or moved out of this cast (cast).
    fast_form: ClassVar[bool] = False
    fast_linear: ClassVar[bool] = False
    fast_cast: ClassVar[bool] = False
    hls4ml_symbolic: ClassVar[bool] = False  # emitted by hls4ml's symbolic-expression backend
    # Emitters ("native HLS", "Verilog", "hls4ml") that take this op on tensors of rank > 1
    # (row-major flattened; e.g. a per-particle dense on (P, F)); the others refuse them.
    shaped: ClassVar[frozenset[str]] = frozenset()
    # hls4ml: the node emits no layer of its own; the dense it feeds takes it in (patches -> Conv)
    hls4ml_into_consumer: ClassVar[bool] = False

    def unsupported(self, node: Node, what: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(f"node {node.name!r}: op {self.name!r} has no {what}")

    # --- IR ---------------------------------------------------------------------
    def out_shape(self, attrs: OpAttrs, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape rule: the per-sample output shape for an input of ``in_shape``."""
        raise NotImplementedError(f"op {self.name!r} declares no shape rule")

    def check(self, graph: Graph, node: Node) -> None:
        """Raise IRError if the node's tensors do not fit together (its shape rule)."""

    # --- golden model -------------------------------------------------------------
    def evaluate(self, graph: Graph, node: Node, xs: list[IntArray]) -> list[IntArray]:
        raise self.unsupported(node, "golden semantics")

    def fast_step(self, graph: Graph, node: Node, dtype: type, fresh: bool, scale: float):
        """The fast path's float step (:mod:`hwai.ir.fastpath`); None = no float form."""
        return None

    def fast_blocker(self, graph: Graph, node: Node, bits: int) -> str | None:
        """Why this node cannot run exactly with ``bits``-bit float codes, or None."""
        return None

    # --- precision ------------------------------------------------------------------
    def fill_types(self, graph: Graph, node: Node, env: dict[str, Interval]) -> tuple[Graph, Node]:
        """Give untyped outputs/accumulators the exact type of their interval."""
        return graph, node

    def interval(self, graph: Graph, node: Node, env: dict[str, Interval]) -> None:
        raise self.unsupported(node, "interval rule")

    # --- cost ---------------------------------------------------------------------
    def cost(self, graph: Graph, node: Node, target: Any, c: Any, iv: dict) -> tuple[Any, str]:
        from hwai.estimate.cost import Cost
        return Cost(), f"no cost rule for op {self.name!r}; counted as zero"

    def weights(self, node: Node) -> list[np.ndarray]:
        """Weight arrays whose zeros count as sparsity (reports, EBOPs)."""
        return []

    def summary(self, node: Node) -> dict[str, Any]:
        """Extra per-layer report fields."""
        return {}

    def weight_values(self, node: Node) -> list[tuple[Any, np.ndarray]]:
        """(type, real values) of each weight array, for range histograms (default: none)."""
        return []

    def pre_cast(self, graph: Graph, node: Node, env: dict[str, np.ndarray]) -> np.ndarray | None:
        """The node's real value before the cast into its output type, from a golden trace
        ``env`` (codes per tensor), for range histograms; None when the op has none to show."""
        return None

    def trailing_zeros(self, graph: Graph, node: Node) -> np.ndarray | None:
        """Known trailing zero bits of each output element's code (flattened), where the op
        puts elements on a coarser grid than the output type's; None: nothing known."""
        return None

    def linear_map(self, node: Node, src: np.ndarray) -> tuple[np.ndarray, bool] | None:
        """Corner-vector search: the input->output linear map (and whether it is a
        layer whose accumulators deserve corner vectors), or None to stop following."""
        return None

    def neuron(self, node: Node, j: int) -> Node:
        """The node computing only output ``j`` (ops with ``starts_part``: per-neuron synthesis)."""
        raise self.unsupported(node, "per-neuron split")

    # --- emitters -------------------------------------------------------------------
    def native(self, graph: Graph, node: Node, target: Any) -> dict[str, Any]:
        raise self.unsupported(node, "native HLS code generator")

    def native_int(self, graph: Graph, node: Node, op_ctx: dict[str, Any]) -> dict[str, Any]:
        raise UnsupportedLayerError(f"node {node.name!r}: op {self.name!r} has no integer C-simulation "
                                    "flavour; check it with the ap_fixed backend (--backends apfixed)")

    def verilog(self, graph: Graph, node: Node, xs: list, stages: int, style: str, coeffs: Any):
        raise UnsupportedLayerError(f"node {node.name!r}: op {self.name!r} has no Verilog emitter yet; "
                                    "use the native HLS or hls4ml backend")

    def hls4ml_kind(self, node: Node) -> str:
        raise UnsupportedLayerError(f"node {node.name!r}: op {self.name!r} has no hls4ml layer")

    def hls4ml_before_cast(self, graph: Graph, node: Node) -> tuple[Any, float] | None:
        """(type, lowest value) of what the node casts into its output, if a following
        quant may be fused into it; None if it may not."""
        return None

    def hls4ml_layer_dicts(self, graph: Graph, layer: Any) -> list[dict[str, Any]]:
        """hls4ml layer-list dicts (what its Keras parser writes) computing the node."""
        raise self.unsupported(layer.node, "hls4ml layer")

    def hls4ml_precision(self, layer: Any) -> dict[str, Any]:
        """Extra precisions hwai sets on the layer (keys of hls4ml's Precision config)."""
        return {}

    def hls4ml_config(self, layer: Any) -> dict[str, Any]:
        return {}

    def hls4ml_inner_layers(self, graph: Graph, layer: Any) -> dict[str, Any]:
        """Layers the op builds before its own (named in its ``hls4ml_layer_dicts``), with their
        result types (FixedType): hwai sets them in the config and checks them after conversion."""
        return {}

    def hls4ml_input_layers(self, names: list[str]) -> list[str]:
        """The hls4ml layers its first layer dict reads, given those computing the node's inputs."""
        return names

    def hls4ml_extra_layers(self, layer: Any, result: str) -> dict[str, Any]:
        return {}

    def hls4ml_types(self, hls_layer: Any, layer: Any) -> dict[str, Any]:
        """hls4ml's precisions of the layer's parameters, keyed like ``'weight'``."""
        return {}

    def hls4ml_stream_blocker(self, graph: Graph, node: Node) -> str | None:
        """Why hls4ml's io_stream kernel cannot build this node exactly, or None (it can)."""
        return None

    def stream_rows(self, graph: Graph, node: Node) -> int:
        """Stream reads per sample of the node's io_stream layer: one per row (the leading axes)
        of its first input, a flat tensor being one row (hls4ml packs the last axis per read)."""
        return int(np.prod(graph.tensor(node.inputs[0]).shape[:-1], dtype=np.int64))

    def sum_order_free(self, graph: Graph, node: Node) -> bool:
        """The node's sums give the same bits in any order (a wrapping accumulator that holds
        every term exactly), so a kernel that adds in another order (hls4ml's Resource
        strategy) stays exact."""
        return False


def fill_exact(graph: Graph, node: Node, env: dict[str, Interval], pre: Any, accum: Any = None
               ) -> tuple[Graph, Node]:
    """The fill_types of an op whose output keeps its exact pre-cast value by default:
    ``attrs.accum_type = accum(graph, node)`` when given and empty, then an untyped output gets
    the exact type of ``pre(graph, node, env)`` (the pre-cast interval ``(lo, hi, frac)``)."""
    from hwai.ir.numeric import type_for_range

    if accum is not None and node.attrs.accum_type is None:
        node = node.with_attrs(accum_type=accum(graph, node))
        graph = graph.with_node(node)
    out = graph.tensor(node.outputs[0])
    if out.type is None:
        lo, hi, frac = pre(graph, node, env)
        graph = graph.retyped(out.name, type_for_range(int(lo.min()), int(hi.max()), frac))
    return graph, node
