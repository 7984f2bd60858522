"""hwai's intermediate representation: a typed dataflow graph.

``attrs`` says *what* a node computes (integer weights, fixed-point types);
``impl`` says *how* to build it (reuse factor, strategy). Passes return new graphs;
nothing here mutates in place.

Ops (``node.op``) are registered in :data:`hwai.ir.registry.OP_TABLE`: one module per op holds its
typed attributes (a frozen dataclass; a plain dict given here is converted), shape
rule, golden semantics, interval, cost and emitter hooks. Tensor shapes are the real
per-sample shapes (no batch axis, never flattened here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hwai.errors import IRError
from hwai.ir.registry import op_named, op_of
from hwai.ir.types import FixedType


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]            # per-sample shape, no batch axis
    type: FixedType | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    impl: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec = op_named(self.op)
        if spec is not None and not isinstance(self.attrs, spec.Attrs):
            object.__setattr__(self, "attrs", spec.Attrs.from_mapping(self.name, self.op, self.attrs))

    def with_attrs(self, **kw: Any) -> Node:
        if is_dataclass(self.attrs):
            return replace(self, attrs=replace(self.attrs, **kw))
        return replace(self, attrs={**self.attrs, **kw})

    def with_impl(self, **kw: Any) -> Node:
        return replace(self, impl={**self.impl, **kw})


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    tensors: Mapping[str, Tensor]
    nodes: tuple[Node, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    # --- lookups -------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise IRError(f"graph {self.name!r}: no tensor named {name!r}") from None

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise IRError(f"graph {self.name!r}: no node named {name!r}")

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def nodes_of(self, op: str) -> list[Node]:
        return [n for n in self.nodes if n.op == op]

    # --- functional updates ------------------------------------------------
    def with_tensor(self, t: Tensor) -> Graph:
        return replace(self, tensors={**self.tensors, t.name: t})

    def with_node(self, node: Node) -> Graph:
        return replace(self, nodes=tuple(node if n.name == node.name else n for n in self.nodes))

    def retyped(self, name: str, ftype: FixedType | None) -> Graph:
        return self.with_tensor(replace(self.tensor(name), type=ftype))

    # --- invariants ---------------------------------------------------------
    def validate(self, require_types: bool = True) -> Graph:
        """Check topological order, shapes and (by default) that every tensor is typed."""
        known = set(self.inputs)
        for t in self.inputs:
            self.tensor(t)
        names = set()
        for n in self.nodes:
            op = op_of(n)
            if n.name in names:
                raise IRError(f"duplicate node name {n.name!r}")
            names.add(n.name)
            for i in n.inputs:
                if i not in known:
                    raise IRError(f"node {n.name!r}: input {i!r} is not produced before it")
            for o in n.outputs:
                self.tensor(o)
                known.add(o)
            op.check(self, n)
        for o in self.outputs:
            if o not in known:
                raise IRError(f"graph output {o!r} is never produced")
        if require_types:
            untyped = sorted(t.name for t in self.tensors.values() if t.type is None and t.name in known)
            if untyped:
                raise IRError(f"tensors without a fixed-point type: {', '.join(untyped)} "
                              "(run hwai.passes.infer_precision first)")
        return self

    # --- persistence --------------------------------------------------------
    def save(self, folder: str | Path) -> tuple[Path, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        doc = {
            "name": self.name, "inputs": list(self.inputs), "outputs": list(self.outputs),
            "tensors": [_tensor_doc(t) for t in self.tensors.values()],
            "nodes": [_node_doc(n, arrays) for n in self.nodes],
            "meta": _encode(dict(self.meta), arrays, "meta"),
        }
        jpath, npath = folder / "graph.json", folder / "graph.npz"
        jpath.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        with open(npath, "wb") as fh:  # np.savez on a handle: no name mangling, deterministic
            np.savez(fh, **dict(sorted(arrays.items())))
        return jpath, npath

    @classmethod
    def load(cls, folder: str | Path) -> Graph:
        folder = Path(folder)
        doc = json.loads((folder / "graph.json").read_text())
        with np.load(folder / "graph.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        tensors = {d["name"]: Tensor(d["name"], tuple(d["shape"]),
                                     FixedType.from_dict(d["type"]) if d["type"] else None)
                   for d in doc["tensors"]}
        nodes = tuple(Node(d["name"], d["op"], tuple(d["inputs"]), tuple(d["outputs"]),
                           _decode(d["attrs"], arrays), _decode(d["impl"], arrays))
                      for d in doc["nodes"])
        return cls(doc["name"], tuple(doc["inputs"]), tuple(doc["outputs"]), tensors, nodes,
                   _decode(doc["meta"], arrays))




def _tensor_doc(t: Tensor) -> dict:
    return {"name": t.name, "shape": list(t.shape), "type": t.type.to_dict() if t.type else None}


def _node_doc(n: Node, arrays: dict) -> dict:
    return {"name": n.name, "op": n.op, "inputs": list(n.inputs), "outputs": list(n.outputs),
            "attrs": _encode(dict(n.attrs), arrays, n.name),
            "impl": _encode(dict(n.impl), arrays, n.name + ".impl")}


def _encode(value: Any, arrays: dict, key: str) -> Any:
    if isinstance(value, FixedType):
        return {"__fixed__": value.to_dict()}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise IRError(f"{key}: object arrays cannot be saved; values exceed 62 bits")
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {str(k): _encode(v, arrays, f"{key}.{k}") for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if "__fixed__" in value:
            return FixedType.from_dict(value["__fixed__"])
        if "__array__" in value:
            return arrays[value["__array__"]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def chain(name: str, input_tensor: Tensor, layers: Iterable[tuple[Node, Tensor]],
          meta: Mapping[str, Any] | None = None) -> Graph:
    """Build a sequential graph from (node, output tensor) pairs — what frontends produce."""
    tensors = {input_tensor.name: input_tensor}
    nodes = []
    last = input_tensor.name
    for node, out in layers:
        tensors[out.name] = out
        nodes.append(node)
        last = out.name
    return Graph(name, (input_tensor.name,), (last,), tensors, tuple(nodes), dict(meta or {}))
