"""The input preprocessing a model was trained with, as a handoff artefact.

The firmware takes *standardized* features in its fixed-point input type; a firmware
engineer feeding it real detector quantities needs the feature order, the mean and
scale of each feature, and how the result becomes an input code. This module turns a
:class:`~hwai.data.Dataset` (the one source of those numbers) into a JSON-able spec
that travels with the run (``preprocessing.json``, ``report.json``/``report.md``) and
with the IR graph (``graph.meta['preprocessing']``), so every emitted project gets a
README table and the C header ``hwai_preprocess.h``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwai.codegen import templates
from hwai.codegen.hlstypes import hls_type
from hwai.data.dataset import Dataset
from hwai.ir.graph import Graph
from hwai.ir.types import FixedType
from hwai.names import identifier

FORMAT = "hwai-preprocessing-1"
FILE = "preprocessing.json"
HEADER = "hwai_preprocess.h"
# float32 throughout, in this order: exactly what the loader computed for training
FORMULA = "model_input[i] = (raw[i] - mean[i]) / scale[i]   (float32 arithmetic)"
# data.inputs: particles (hwai/data/particles.py): per particle p, the same constants for every p
PARTICLE_FORMULA = ("model_input[p][i] = mask[p] ? (clip(raw[p][i], clip_lo[i], clip_hi[i]) - mean[i]) / scale[i]"
                    " : 0   (float32 arithmetic)")


def preprocessing_spec(data: Dataset, input_type: FixedType | None = None) -> dict[str, Any]:
    """Feature order, standardization constants and (with ``input_type``) the input codes' range."""
    if data.meta.get("input_shapes"):   # several inputs (data.inputs: particles+features)
        return inputs_spec(data, input_type)
    spec: dict[str, Any] = {
        "format": FORMAT, "source": data.source, "standardize": _mode(data),
        "formula": FORMULA, "features": [_feature(i, n, m, s) for i, (n, m, s)
                                         in enumerate(zip(data.feature_names, data.mean, data.std))],
        "clipping": None,   # the loader clips nothing; the input type saturates (below)
    }
    if data.meta.get("inputs") == "particles":
        _add_particles(spec, data.meta)
    if data.meta.get("inputs") == "image":
        _add_image(spec, data.meta["image"])
    if input_type is not None:
        spec["input_type"] = _input_type(input_type)
        for f in spec["features"]:
            f["raw_min"], f["raw_max"] = _raw_range(f, input_type)
    return spec


def attach(graph: Graph, data: Dataset) -> Graph:
    """``graph`` with its input preprocessing in ``meta`` (emitters write it into projects)."""
    from dataclasses import replace

    tin = graph.tensor(graph.inputs[0])
    shapes = data.meta.get("input_shapes")
    if shapes is not None:   # several inputs: each must be the view the data holds for it
        if [list(graph.tensor(t).shape) for t in graph.inputs] != [list(s) for s in shapes]:
            return graph
        types = [graph.tensor(t).type for t in graph.inputs]
        return replace(graph, meta={**graph.meta, "preprocessing": inputs_spec(data, types)})
    if tuple(tin.shape) != tuple(data.x_train.shape[1:]):   # e.g. a feature subset: nothing exact to say
        return graph
    return replace(graph, meta={**graph.meta, "preprocessing": preprocessing_spec(data, tin.type)})


INPUTS_FORMULA = "one input port per view, each preprocessed by its own rule (inputs[k])"


def inputs_spec(data: Dataset, types: FixedType | list[FixedType] | None = None) -> dict[str, Any]:
    """Several inputs (:mod:`hwai.data.hybrid`): one ordinary spec per input (its view's
    constants, its own input type and header ``hwai_preprocess_<name>.h``); ``features`` lists
    them all, each name prefixed with its input's."""
    from dataclasses import replace

    names, views = data.meta["input_names"], data.meta["views"]
    types = types if isinstance(types, list) else [types] * len(names)
    specs = []
    for name, t in zip(names, types):
        v = views[name]
        meta = {"standardize": data.meta.get("standardize", "standard")}
        if "clip" in v:
            meta.update(inputs="particles", particles=data.meta["particles"], clip=v["clip"])
        view = replace(data, feature_names=tuple(v["features"]), mean=np.asarray(v["mean"]),
                       std=np.asarray(v["scale"]), meta=meta)
        specs.append({"name": name, "header": f"hwai_{identifier(name)}_preprocess.h", **preprocessing_spec(view, t)})
    features = [{**f, "index": k, "name": f"{sp['name']}.{f['name']}"}
                for k, (sp, f) in enumerate((sp, f) for sp in specs for f in sp["features"])]
    return {"format": FORMAT, "source": data.source, "standardize": _mode(data), "formula": INPUTS_FORMULA,
            "features": features, "clipping": None, "inputs": specs}


def _add_particles(spec: dict[str, Any], meta: dict[str, Any]) -> None:
    """Particle sets: the per-feature clipping and the padding rule (same constants for every particle)."""
    clip = meta["clip"]
    spec.update(formula=PARTICLE_FORMULA, particles=int(meta["particles"]),
                clipping={"quantile": clip["quantile"], "rule": "quantiles of the train split's real particles"})
    for f, lo, hi in zip(spec["features"], clip["lo"], clip["hi"]):
        f["clip_lo"], f["clip_hi"] = float(np.float32(lo)), float(np.float32(hi))


# data.inputs: image (hwai/data/images.py, docs/anomaly.md): v = the pixel's pT / the jet's (or image's) pT
IMAGE_VALUE = {"linear": "v", "sqrt": "sqrt(v)", "log": "log(1 + v / {eps}) / log(1 + 1 / {eps})"}


def _add_image(spec: dict[str, Any], img: dict[str, Any]) -> None:
    """Jet images: the grid and the pixel formula (the firmware receives the transformed pixels)."""
    v = "pixel pT / image pT" if img["normalize"] == "sum" else "pixel pT / jet pT"
    value = IMAGE_VALUE[img["scale"]].format(eps=repr(float(img["log_eps"])))
    spec.update(image=dict(img), formula=f"model_input[row][col] = {value}, v = {v} (float64; docs/anomaly.md)")


def _mode(data: Dataset) -> str:
    declared = data.meta.get("standardize")
    if declared:
        return str(declared)
    return "none" if not np.any(data.mean) and np.all(data.std == 1) else "standard"


def _feature(i: int, name: str, mean: float, scale: float) -> dict[str, Any]:
    # float(np.float32) is the exact float32 value as a double: it round-trips through JSON
    return {"index": i, "name": str(name), "mean": float(np.float32(mean)), "scale": float(np.float32(scale))}


def _input_type(t: FixedType) -> dict[str, Any]:
    return {**t.to_dict(), "frac": t.frac, "hls": hls_type(t), "code_min": int(t.qmin), "code_max": int(t.qmax),
            "real_min": float(np.ldexp(t.qmin, -t.frac)), "real_max": float(np.ldexp(t.qmax, -t.frac))}


def _raw_range(feature: dict, t: FixedType) -> tuple[float, float]:
    """Physical values mapping to the input type's range: beyond them the input saturates."""
    lo, hi = (feature["mean"] + feature["scale"] * float(np.ldexp(q, -t.frac)) for q in (t.qmin, t.qmax))
    return lo, hi


def markdown_table(spec: dict[str, Any]) -> str:
    """The table a README / report.md shows (feature order, constants, saturating range)."""
    ranged = "input_type" in spec
    head = "| # | feature | mean | scale |" + (" input type's range in physical units |" if ranged else "")
    rule = "|---|---|---|---|" + ("---|" if ranged else "")
    rows = [f"| {f['index']} | `{f['name']}` | {f['mean']:.9g} | {f['scale']:.9g} |"
            + (f" [{f['raw_min']:.6g}, {f['raw_max']:.6g}] |" if ranged else "") for f in spec["features"]]
    return "\n".join([head, rule, *rows]) + "\n"


def c_float(value: float) -> str:
    """A C float literal equal to the float32 ``value`` (the double repr round-trips exactly)."""
    text = repr(float(np.float32(value)))
    return (text if any(c in text for c in ".eE") else text + ".0") + "f"


def header_context(spec: dict[str, Any], prefix: str = "hwai_") -> dict[str, Any]:
    """Template context of ``hwai_preprocess.h`` (``prefix`` starts every C name in it: one
    header per input of a model with several inputs, ``hwai_<input>_``)."""
    t = spec["input_type"]
    return {"p": prefix, "P": prefix.upper(), "spec": spec, "features": spec["features"], "n": len(spec["features"]), "t": t,
            "means": ", ".join(c_float(f["mean"]) for f in spec["features"]),
            "scales": ", ".join(c_float(f["scale"]) for f in spec["features"]),
            "names": ", ".join(f'"{_c_string(f["name"])}"' for f in spec["features"]),
            "particles": spec.get("particles", 0),
            "clip_lo": ", ".join(_c_bound(f.get("clip_lo", -np.inf)) for f in spec["features"]),
            "clip_hi": ", ".join(_c_bound(f.get("clip_hi", np.inf)) for f in spec["features"]),
            "table": markdown_table(spec)}


def _c_bound(value: float) -> str:
    """A clipping bound as C: INFINITY (math.h) where data.clip_quantile 0 leaves a feature unclipped."""
    return ("-INFINITY" if value < 0 else "INFINITY") if np.isinf(value) else c_float(value)


def _c_string(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def project_files(graph: Graph) -> dict[str, str]:
    """``hwai_preprocess.h`` for an emitted project, when the graph carries its preprocessing."""
    spec = graph.meta.get("preprocessing")
    if spec and "inputs" in spec:   # one header per input
        return {s["header"]: templates.render("native/hwai_preprocess.h.j2",
                                              **header_context(s, f"hwai_{identifier(s['name'])}_"))
                for s in spec["inputs"] if "input_type" in s}
    if not spec or "input_type" not in spec:
        return {}
    return {HEADER: templates.render("native/hwai_preprocess.h.j2", **header_context(spec))}


def readme_context(graph: Graph) -> dict[str, Any]:
    """Context of ``native/preprocess.md.j2`` (the README section; empty without a spec)."""
    spec = graph.meta.get("preprocessing")
    if spec and "inputs" in spec:   # several inputs: one section each (native/preprocess.md.j2)
        return {"preprocessing": None, "preprocessing_table": "",
                "preprocessing_inputs": [{"spec": s, "table": markdown_table(s)} for s in spec["inputs"]
                                         if "input_type" in s]}
    return {"preprocessing": spec, "preprocessing_table": markdown_table(spec) if spec else "",
            "preprocessing_inputs": []}


def hls_readme(graph: Graph, project: str) -> str | None:
    """README.md for the hls4ml project folder (hls4ml writes none): the preprocessing section."""
    ctx = readme_context(graph)
    if not ctx["preprocessing_inputs"] and (not ctx["preprocessing"] or "input_type" not in ctx["preprocessing"]):
        return None
    body = templates.render("native/preprocess.md.j2", **ctx)
    return (f"# {project} — hls4ml project generated by hwai\n\n"
            f"Top function `{project}` in `firmware/{project}.cpp`; build with hls4ml's `build_prj.tcl`.\n\n{body}")
