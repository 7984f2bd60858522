"""Load a recipe's ``data:`` section into a split, standardized :class:`Dataset`.

Sources: ``.npz``, ``.h5``/``.hdf5``, ``.parquet`` files, or ``openml:hls4ml_lhc_jets_hlf``
(the public jet-tagging set, fetched with scikit-learn and cached under
``~/.cache/hwai/openml``). Labels may be integer indices, one-hot rows or strings;
the result always carries int64 indices into ``class_names``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hwai.data.dataset import Dataset
from hwai.errors import DataError

OPENML_JETS = "openml:hls4ml_lhc_jets_hlf"
# Class order used across hwai (and in the hls4ml tutorial): g, q, W, Z, t.
# OpenML encodes the target alphabetically (g, q, t, w, z), so map by name, never by code.
JET_CLASSES = ("g", "q", "W", "Z", "t")
_DEFAULT_SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}


def load_features(cfg: dict, seed: int, override_path: str | None = None) -> Dataset:
    """Read, label-encode, subsample, split and standardize the data described by ``cfg``.

    ``override_path`` (the CLI's ``--data``) replaces ``cfg['source']``. The split is a
    deterministic stratified function of ``seed``; standardization statistics come from
    the train split only so no information leaks from val/test.
    """
    source = str(override_path or cfg.get("source", ""))
    if not source:
        raise DataError("data.source is empty; set it in the recipe or pass --data PATH.npz")
    x, y_raw, file_names, features = _read_source(source, cfg)
    check_rows(x, features, source)
    # The recipe's class_names win over the file's: they define the order the user wants.
    y, class_names = _encode_labels(y_raw, cfg.get("class_names") or file_names, source)
    check_classes(y, class_names, source)
    x, y, n_total = _subsample(x, y, cfg.get("max_rows"), seed)
    split = cfg.get("split") or _DEFAULT_SPLIT
    parts = _split_indices(y, split, seed)
    check_split_counts(y, parts, split, class_names, source)
    mean, std = _standardization(x[parts["train"]], cfg.get("standardize", "standard"))
    scaled = ((x - mean) / std).astype(np.float32)
    meta = {"n_rows_file": n_total, "max_rows": cfg.get("max_rows"), "seed": seed,
            "standardize": cfg.get("standardize", "standard"),
            "counts": {k: int(len(v)) for k, v in parts.items()}}
    return Dataset(
        x_train=scaled[parts["train"]], y_train=y[parts["train"]],
        x_val=scaled[parts["val"]], y_val=y[parts["val"]],
        x_test=scaled[parts["test"]], y_test=y[parts["test"]],
        class_names=tuple(class_names), feature_names=tuple(features),
        mean=mean, std=std, source=source, meta=meta,
    )


# --------------------------------------------------------------------------- reading
def _read_source(source: str, cfg: dict) -> tuple[np.ndarray, np.ndarray, list | None, list]:
    """Dispatch on the source kind; returns (X float32, raw y, class names or None, feature names)."""
    if source.startswith("openml:"):
        return _read_openml(source)
    path = Path(source).expanduser()
    try:
        found = path.is_file()
    except OSError as err:  # e.g. a name longer than the file system allows
        raise DataError(f"data file {str(path)[:120]}: {err.strerror}; check data.source or pass --data") from None
    if not found:
        raise DataError(f"data file {path} not found; check data.source or pass --data PATH.npz")
    suffix = path.suffix.lower()
    readers = {".npz": _read_npz, ".h5": _read_h5, ".hdf5": _read_h5, ".parquet": _read_parquet}
    if suffix not in readers:
        raise DataError(f"data file {path} has unsupported type '{suffix}'; use .npz, .h5, .hdf5 or .parquet")
    x, y, names, features = readers[suffix](path, cfg)
    return _check_x(x, y, path), y, names, features or _default_features(x)


def _keys(cfg: dict) -> tuple[str, str]:
    return str(cfg.get("features") or "X"), str(cfg.get("labels") or "y")


def _missing_key(path: Path, key: str, available: list[str]) -> DataError:
    return DataError(f"{path}: key '{key}' not found; available keys: {', '.join(sorted(available))}")


def _read_npz(path: Path, cfg: dict) -> tuple[np.ndarray, np.ndarray, list | None, list | None]:
    x_key, y_key = _keys(cfg)
    # allow_pickle=False: data files are untrusted input; string arrays are stored as unicode.
    try:
        with np.load(path, allow_pickle=False) as f:
            available = list(f.files)
            for key in (x_key, y_key):
                if key not in available:
                    raise _missing_key(path, key, available)
            names = f["class_names"].tolist() if "class_names" in available else None
            features = f["feature_names"].tolist() if "feature_names" in available else None
            return f[x_key], f[y_key], names, features
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        # np.load raises all of these for a truncated, empty, pickled or non-zip file
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise DataError(f"{path}: not a readable .npz file ({first}); is it truncated or another "
                        "format? (object arrays are refused: save strings as unicode arrays)") from None


def _read_h5(path: Path, cfg: dict) -> tuple[np.ndarray, np.ndarray, list | None, list | None]:
    import h5py

    x_key, y_key = _keys(cfg)
    with _open_h5(path) as f:
        available: list[str] = []
        f.visititems(lambda name, obj: available.append(name) if isinstance(obj, h5py.Dataset) else None)
        for key in (x_key, y_key):
            if key not in available:
                raise _missing_key(path, key, available)
        return f[x_key][()], _h5_strings(f[y_key][()]), _h5_list(f, "class_names"), _h5_list(f, "feature_names")


def _open_h5(path: Path) -> Any:
    """h5py.File, or a one-line DataError for a truncated or non-HDF5 file."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({str(err).splitlines()[0]}); "
                        "is it truncated or another format?") from None


def _h5_strings(arr: np.ndarray) -> np.ndarray:
    """h5py returns variable-length strings as bytes; decode them so labels compare as str."""
    if arr.dtype.kind in "OS":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()]).reshape(arr.shape)
    return arr


def _h5_list(f: Any, key: str) -> list | None:
    return _h5_strings(f[key][()]).tolist() if key in f else None


def _read_parquet(path: Path, cfg: dict) -> tuple[np.ndarray, np.ndarray, list | None, list]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # absent, or built for another numpy major version than TF's numpy 1.x
        raise DataError(f"reading {path} needs a working pyarrow ({err}); "
                        "install one matching your numpy, or convert the file to .npz") from err
    table = pq.read_table(path)
    columns = list(table.column_names)
    y_key = str(cfg.get("labels") or "y")
    if y_key not in columns:
        raise _missing_key(path, y_key, columns)
    features = cfg.get("features")
    # A parquet table is one column per feature, so "X" (the array-file default) means all the rest.
    if features in (None, "X", "all but label"):
        features = [c for c in columns if c != y_key]
    features = [features] if isinstance(features, str) else list(features)
    for col in features:
        if col not in columns:
            raise _missing_key(path, col, columns)
    x = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in features])
    y = table.column(y_key).to_numpy(zero_copy_only=False)
    return x, (y.astype(str) if y.dtype == object else y), None, features


def _read_openml(source: str) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Fetch the public jet set; any network/cache failure becomes an actionable DataError."""
    if source != OPENML_JETS:
        raise DataError(f"unknown OpenML source '{source}'; supported: {OPENML_JETS}")
    from sklearn.datasets import fetch_openml

    home = Path("~/.cache/hwai/openml").expanduser()
    try:
        bunch = fetch_openml("hls4ml_lhc_jets_hlf", version=1, data_home=str(home), as_frame=True, parser="auto")
    except Exception as err:  # URLError, HTTPError, OSError, OpenMLError...: all mean "not available"
        raise DataError(
            f"cannot fetch {source} ({type(err).__name__}: {err}); offline? pass a local file with --data PATH.npz"
        ) from err
    x = bunch.data.to_numpy(dtype=np.float32)
    y = np.asarray(bunch.target).astype(str)
    return x, y, list(JET_CLASSES), list(bunch.data.columns)


def _check_x(x: np.ndarray, y: np.ndarray, path: Path) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind not in "fiub":
        raise DataError(f"{path}: features must be a numeric 2-D array, got {x.dtype} {x.shape}")
    if len(x) != len(y):
        raise DataError(f"{path}: {len(x)} feature rows but {len(y)} labels")
    return x.astype(np.float32)


def _default_features(x: np.ndarray) -> list[str]:
    return [f"x{i}" for i in range(x.shape[1])]


# --------------------------------------------------------------------------- checks
# Every non-empty split needs this many rows of every class: one row gives no spread for
# a rejection or AUC figure, and a class missing from test makes its AUC undefined.
MIN_ROWS_PER_CLASS = 2


def check_rows(x: np.ndarray, features: list[str], source: str) -> None:
    """No rows, or rows with NaN/Inf, would train to ``loss nan``: refuse them at load."""
    if len(x) == 0:
        raise DataError(f"{source}: the data has no rows")
    bad = ~np.isfinite(x)
    if bad.any():
        rows, cols = int(bad.any(axis=1).sum()), np.flatnonzero(bad.any(axis=0))
        names = ", ".join(str(features[c]) for c in cols[:8]) + (", ..." if len(cols) > 8 else "")
        raise DataError(f"{source}: {rows} of {len(x)} rows have NaN or Inf (in {len(cols)} column(s): "
                        f"{names}); drop or impute them before training")


def check_classes(y: np.ndarray, class_names: list[str], source: str) -> None:
    """Class names must differ and the labels must hold at least two classes."""
    dup = sorted({n for n in class_names if class_names.count(n) > 1})
    if dup:
        raise DataError(f"{source}: class name(s) {', '.join(dup)} given more than once; names must differ")
    present = np.unique(y)
    if len(present) < 2:
        only = class_names[int(present[0])] if len(present) else "none"
        raise DataError(f"{source}: every label is class {only!r}; a classifier needs rows of at least 2 classes")


def check_split_counts(y: np.ndarray, parts: dict[str, np.ndarray], fractions: dict,
                       class_names: list[str], source: str) -> None:
    """Each split with a fraction above 0 holds at least MIN_ROWS_PER_CLASS rows of every class."""
    for split, idx in parts.items():
        if not float(fractions.get(split, 0.0)):   # e.g. an evaluate-only recipe has no train split
            continue
        counts = np.bincount(y[idx], minlength=len(class_names))
        low = [f"{class_names[k]}: {int(c)}" for k, c in enumerate(counts) if c < MIN_ROWS_PER_CLASS]
        if low:
            raise DataError(f"{source}: the {split} split has fewer than {MIN_ROWS_PER_CLASS} rows of class "
                            f"{', '.join(low)} ({len(y)} rows in all); use more rows (data.max_rows) "
                            "or a larger data.split fraction")


# --------------------------------------------------------------------------- labels
def _encode_labels(y: np.ndarray, names: list | None, source: str) -> tuple[np.ndarray, list[str]]:
    """Turn int / one-hot / string labels into int64 indices plus the class-name list."""
    y = np.asarray(y)
    names = [str(n) for n in names] if names is not None else None
    if y.ndim == 2:  # one-hot (or per-class scores): the hot column is the class
        return _check_range(np.argmax(y, axis=1).astype(np.int64), names or _numbered(y.shape[1]), source)
    if y.dtype.kind in "US":
        return _encode_strings(y.astype(str), names, source)
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(f"{source}: labels are non-integer floats; give class indices, one-hot rows or strings")
    y = y.astype(np.int64)
    return _check_range(y, names or _numbered(int(y.max()) + 1 if len(y) else 0), source)


def _encode_strings(y: np.ndarray, names: list[str] | None, source: str) -> tuple[np.ndarray, list[str]]:
    if names is None:
        names = sorted(set(y.tolist()))
    # Match case-insensitively: OpenML spells W/Z as 'w'/'z' while hwai's class names are 'W'/'Z'.
    lookup = {n.casefold(): i for i, n in enumerate(names)}
    unknown = sorted({v for v in set(y.tolist()) if v.casefold() not in lookup})
    if unknown:
        raise DataError(f"{source}: labels {unknown} are not in class_names {names}; fix data.class_names")
    return np.array([lookup[v.casefold()] for v in y], dtype=np.int64), names


def _check_range(y: np.ndarray, names: list[str], source: str) -> tuple[np.ndarray, list[str]]:
    if len(y) and (y.min() < 0 or y.max() >= len(names)):
        raise DataError(f"{source}: label values span {y.min()}..{y.max()} but there are {len(names)} class_names")
    return y, names


def _numbered(k: int) -> list[str]:
    return [str(i) for i in range(k)]


# --------------------------------------------------------------------------- split / scale
def _subsample(x: np.ndarray, y: np.ndarray, max_rows: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep a seeded random ``max_rows`` subset (in file order) for fast runs."""
    n = len(y)
    if not max_rows or max_rows >= n:
        return x, y, n
    keep = np.sort(np.random.default_rng([seed, 1]).choice(n, size=int(max_rows), replace=False))
    return x[keep], y[keep], n


def _split_indices(y: np.ndarray, split: dict, seed: int) -> dict[str, np.ndarray]:
    """Stratified split: each class is cut in the train/val/test proportions, then shuffled."""
    fractions = np.array([float(split.get(k, 0.0)) for k in ("train", "val", "test")])
    if fractions.min() < 0 or fractions.sum() <= 0:
        raise DataError(f"data.split {split} must have non-negative fractions for train/val/test")
    fractions = fractions / fractions.sum()
    rng = np.random.default_rng([seed, 2])
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        cuts = np.round(np.cumsum(fractions)[:2] * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, cuts)):
            part.append(chunk)
    out = {k: rng.permutation(np.concatenate(p)) for k, p in zip(("train", "val", "test"), parts)}
    return out


def _standardization(x_train: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    n = x_train.shape[1]
    if mode == "none":
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    if mode != "standard":
        raise DataError(f"data.standardize '{mode}' is not supported; use 'standard' or 'none'")
    if len(x_train) == 0:  # an evaluate-only recipe (a trained model) may have no train split
        raise DataError("data.standardize: standard needs a non-empty train split for its statistics; "
                        "give data.split.train > 0 or standardize: none")
    mean = x_train.astype(np.float64).mean(axis=0)
    std = x_train.astype(np.float64).std(axis=0)
    std[std == 0] = 1.0  # a constant feature carries no information; avoid dividing by zero
    return mean.astype(np.float32), std.astype(np.float32)
