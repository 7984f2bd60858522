"""Loaders: file formats, label encodings, deterministic split, train-only standardization, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data import JET_CLASSES, load_dataset
from hwai.errors import DataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
JETS = SHARED / "data" / "jets_hlf.npz"

pytestmark = pytest.mark.unit

N, F, K = 300, 4, 3


def _arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(N) % K
    x = rng.normal(size=(N, F)).astype(np.float32) * 3 + 10 + y[:, None]
    return x, y.astype(np.int64)


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    x, y = _arrays()
    path = tmp_path / "d.npz"
    np.savez(path, X=x, y=y, class_names=np.array(["a", "b", "c"]), feature_names=np.array(["f0", "f1", "f2", "f3"]))
    return path


def test_npz_split_is_deterministic_stratified_and_complete(npz: Path) -> None:
    cfg = {"source": str(npz), "split": {"train": 0.6, "val": 0.2, "test": 0.2}}
    a, b, c = load_dataset(cfg, seed=1), load_dataset(cfg, seed=1), load_dataset(cfg, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (180, 60, 60)
    assert np.bincount(a.y_train).tolist() == [60, 60, 60]  # stratified
    assert a.class_names == ("a", "b", "c") and a.feature_names == ("f0", "f1", "f2", "f3")
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    raw = np.concatenate([a.x_train, a.x_val, a.x_test]) * a.std + a.mean
    x, _ = _arrays()
    np.testing.assert_allclose(np.sort(raw, axis=0), np.sort(x, axis=0), rtol=1e-5)  # every row used once


def test_standardization_uses_train_split_only(npz: Path) -> None:
    d = load_dataset({"source": str(npz)}, seed=0)
    np.testing.assert_allclose(d.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.x_train.std(axis=0), 1.0, atol=1e-5)
    raw_val = d.x_val * d.std + d.mean
    assert not np.allclose(raw_val.mean(axis=0), d.mean, atol=1e-6)  # val stats were not used
    none = load_dataset({"source": str(npz), "standardize": "none"}, seed=0)
    np.testing.assert_array_equal(none.mean, 0.0)
    np.testing.assert_array_equal(none.std, 1.0)


def test_one_hot_and_string_labels(tmp_path: Path) -> None:
    x, y = _arrays()
    np.savez(tmp_path / "oh.npz", X=x, y=np.eye(K)[y])
    y5 = np.arange(N) % 5
    np.savez(tmp_path / "s.npz", X=x, label=np.array(["W", "g", "t", "Z", "q"])[y5])
    oh = load_dataset({"source": str(tmp_path / "oh.npz")}, seed=0)
    assert oh.class_names == ("0", "1", "2")
    s = load_dataset({"source": str(tmp_path / "s.npz"), "labels": "label", "class_names": list(JET_CLASSES)}, seed=0)
    assert s.class_names == JET_CLASSES
    # 'W' -> 2, 'g' -> 0, 't' -> 4, 'Z' -> 3, 'q' -> 1 by name, not by order of appearance
    raw = s.x_train[:, 0] * s.std[0] + s.mean[0]
    rows = np.abs(x[:, 0][None, :] - raw[:, None]).argmin(axis=1)   # each train row's file row
    np.testing.assert_array_equal(s.y_train, np.array([2, 0, 4, 3, 1])[y5[rows]])


def test_unknown_string_label_names_class_names(tmp_path: Path) -> None:
    x, y = _arrays()
    np.savez(tmp_path / "s.npz", X=x, y=np.array(["a", "b", "zz"])[y])
    with pytest.raises(DataError, match="zz"):
        load_dataset({"source": str(tmp_path / "s.npz"), "class_names": ["a", "b", "c"]}, seed=0)


def test_h5(tmp_path: Path) -> None:
    import h5py

    x, y = _arrays()
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["grp/feat"] = x
        f["grp/lab"] = np.array(["a", "b", "c"], dtype=object)[y].astype("S")
    h5 = load_dataset({"source": str(tmp_path / "d.h5"), "features": "grp/feat", "labels": "grp/lab"}, seed=3)
    assert h5.class_names == ("a", "b", "c") and h5.n_features == F
    np.testing.assert_allclose(h5.x_train, load_dataset({"source": str(_npz(tmp_path, x, y))}, seed=3).x_train)
    with pytest.raises(DataError, match="grp/feat, grp/lab"):
        load_dataset({"source": str(tmp_path / "d.h5"), "features": "feat", "labels": "grp/lab"}, seed=3)


def _npz(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez(tmp_path / "plain.npz", X=x, y=y)
    return tmp_path / "plain.npz"


def test_parquet(tmp_path: Path) -> None:
    # pyarrow may be installed but unusable (built for numpy 2 while TF 2.14 pins numpy 1.x).
    pa = pytest.importorskip("pyarrow", exc_type=ImportError)
    import pyarrow.parquet as pq

    x, y = _arrays()
    ref = load_dataset({"source": str(_npz(tmp_path, x, y))}, seed=3)
    cols = {f"c{i}": x[:, i] for i in range(F)} | {"label": y}
    pq.write_table(pa.table(cols), tmp_path / "d.parquet")
    pqd = load_dataset({"source": str(tmp_path / "d.parquet"), "labels": "label"}, seed=3)
    assert pqd.feature_names == ("c0", "c1", "c2", "c3")
    np.testing.assert_allclose(pqd.x_train, ref.x_train, rtol=1e-6)  # same rows, same split
    sub = load_dataset({"source": str(tmp_path / "d.parquet"), "labels": "label", "features": ["c2", "c0"]}, seed=3)
    assert sub.feature_names == ("c2", "c0")


def test_max_rows_is_a_deterministic_subsample(npz: Path) -> None:
    a = load_dataset({"source": str(npz), "max_rows": 100}, seed=5)
    b = load_dataset({"source": str(npz), "max_rows": 100}, seed=5)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 100
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.meta["n_rows_file"] == N


def test_bad_key_lists_available_keys(npz: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset({"source": str(npz), "features": "features"}, seed=0)
    msg = str(err.value)
    assert "'features'" in msg and str(npz) in msg and "X, class_names, feature_names, y" in msg


def test_missing_file_and_override_path(npz: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_dataset({"source": str(tmp_path / "nope.npz")}, seed=0)
    d = load_dataset({"source": str(tmp_path / "nope.npz")}, seed=0, override_path=str(npz))
    assert d.source == str(npz)


def test_openml_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    import sklearn.datasets

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    with pytest.raises(DataError, match="--data PATH.npz"):
        load_dataset({"source": "openml:hls4ml_lhc_jets_hlf"}, seed=0)


def test_openml_labels_mapped_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenML codes classes alphabetically (g,q,t,w,z); hwai's order is g,q,W,Z,t."""
    import pandas as pd
    import sklearn.datasets
    from sklearn.utils import Bunch

    target = pd.Series(pd.Categorical(["t", "w", "z", "g", "q"] * 20))
    frame = pd.DataFrame({"a": np.arange(100, dtype=float), "b": np.ones(100)})
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: Bunch(data=frame, target=target))
    d = load_dataset({"source": "openml:hls4ml_lhc_jets_hlf", "split": {"train": 1.0, "val": 0, "test": 0}}, seed=0)
    assert d.class_names == JET_CLASSES
    raw_a = d.x_train[:, 0] * d.std[0] + d.mean[0]
    expect = np.array([4, 2, 3, 0, 1])[np.rint(raw_a).astype(int) % 5]
    np.testing.assert_array_equal(d.y_train, expect)


@pytest.mark.skipif(not JETS.is_file(), reason=f"shared data {JETS} not present")
def test_shared_jets_sample() -> None:
    d = load_dataset({"source": str(JETS), "max_rows": 5000}, seed=0)
    assert d.class_names == JET_CLASSES and d.n_features == 16
    assert d.feature_names[0] == "zlogz"


# --- issue 10 part B: every data mistake is one line (exit 2) at load, before training ----

def _load(tmp_path: Path, x: np.ndarray, y: np.ndarray, **cfg) -> str:
    path = tmp_path / "bad.npz"
    np.savez(path, X=x, y=y)
    with pytest.raises(DataError) as info:
        load_dataset({"source": str(path), **cfg}, seed=0)
    msg = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in msg and "bad.npz" in msg
    return msg


def test_nan_and_inf_rows_named(tmp_path: Path) -> None:
    x, y = _arrays()
    x[3, 1], x[7, 1], x[9, 3] = np.nan, np.inf, -np.inf
    msg = _load(tmp_path, x, y)
    assert "3 of 300 rows have NaN or Inf (in 2 column(s): x1, x3)" in msg


def test_nan_columns_use_feature_names(tmp_path: Path) -> None:
    x, y = _arrays()
    x[0, 2] = np.nan
    path = tmp_path / "f.npz"
    np.savez(path, X=x, y=y, feature_names=np.array(["pt", "eta", "mass", "d2"]))
    with pytest.raises(DataError, match=r"1 of 300 rows have NaN or Inf \(in 1 column\(s\): mass\)"):
        load_dataset({"source": str(path)}, seed=0)


def test_zero_rows(tmp_path: Path) -> None:
    assert "the data has no rows" in _load(tmp_path, np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


def test_one_class(tmp_path: Path) -> None:
    x, _ = _arrays()
    assert "every label is class '0'; a classifier needs rows of at least 2 classes" in \
        _load(tmp_path, x, np.zeros(N, np.int64))


def test_twelve_rows_refused(tmp_path: Path) -> None:
    x, y = _arrays()
    msg = _load(tmp_path, x[:12], np.arange(12) % 5)
    assert "split has fewer than 2 rows of class" in msg and "(12 rows in all)" in msg


def test_class_named_but_absent_from_a_split(tmp_path: Path) -> None:
    x, y = _arrays()
    msg = _load(tmp_path, x, y, class_names=["a", "b", "c", "d"])
    assert "the train split has fewer than 2 rows of class d: 0" in msg


def test_evaluate_only_split_needs_no_train_rows(tmp_path: Path) -> None:
    x, y = _arrays()
    path = tmp_path / "ok.npz"
    np.savez(path, X=x[:30], y=y[:30])
    d = load_dataset({"source": str(path), "standardize": "none", "split": {"train": 0, "val": 0, "test": 1}}, seed=0)
    assert len(d.x_test) == 30 and len(d.x_train) == 0


@pytest.mark.parametrize("labels, names, expect", [
    (np.arange(N) % 5, ["a", "b", "c"], "label values span 0..4 but there are 3 class_names"),
    (np.array(list("abcde"))[np.arange(N) % 5], ["a", "b", "c"], "labels ['d', 'e'] are not in class_names"),
    (np.eye(5)[np.arange(N) % 5], ["a", "b", "c"], "label values span 0..4 but there are 3 class_names"),
])
def test_labels_outside_class_names(tmp_path: Path, labels, names, expect) -> None:
    x, _ = _arrays()
    assert expect in _load(tmp_path, x, labels, class_names=names)


def test_duplicate_class_names_in_the_file(tmp_path: Path) -> None:
    x, y = _arrays()
    path = tmp_path / "bad.npz"
    np.savez(path, X=x, y=y, class_names=np.array(["a", "b", "a"]))
    with pytest.raises(DataError, match="class name\\(s\\) a given more than once"):
        load_dataset({"source": str(path)}, seed=0)


@pytest.mark.parametrize("content", [b"not an hdf5 file at all", None])
def test_truncated_or_foreign_h5(tmp_path: Path, content: bytes | None) -> None:
    import h5py

    path = tmp_path / "d.h5"
    if content is None:   # a real HDF5 file cut in half
        x, y = _arrays()
        with h5py.File(path, "w") as f:
            f["X"], f["y"] = x, y
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_dataset({"source": str(path)}, seed=0)
    assert "d.h5: not a readable HDF5 file" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("case", ["nan", "twelve", "one_class"])
def test_cli_refuses_bad_data_before_training(tmp_path: Path, case: str, capsys) -> None:
    """Through `hwai compress`: exit 2, one line, no run folder (nothing trained or written)."""
    import yaml

    from hwai.cli import main

    x, y = _arrays()
    if case == "nan":
        x[5, 0] = np.nan
    elif case == "twelve":
        x, y = x[:12], np.arange(12) % 5
    else:
        y = np.zeros(N, np.int64)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"name": "x", "model": {"arch": "jet_mlp"},
                                                     "data": {"source": "d.npz"}, "steps": ["train"]}))
    out = tmp_path / "run"
    assert main(["compress", str(tmp_path / "r.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: ") and "\n" not in err and "d.npz" in err
    assert {"nan": "rows have NaN or Inf", "twelve": "(12 rows in all)", "one_class": "every label is class"}[case] in err
    assert not out.exists()


def test_label_gap_does_not_invent_empty_classes(tmp_path: Path) -> None:
    """Integer labels 0, 1, 2, 7 without class_names used to become 8 classes, 5 of them empty."""
    x, _ = _arrays()
    msg = _load(tmp_path, x, np.array([0, 1, 2, 7])[np.arange(N) % 4])
    assert "fewer than 2 rows of class 3: 0, 4: 0, 5: 0, 6: 0" in msg


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip at all"], ids=["empty", "truncated", "garbage"])
def test_unreadable_npz_is_one_line(tmp_path, content: bytes) -> None:
    from hwai.data.loaders import _read_npz

    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable .npz file") as info:
        _read_npz(path, {})
    assert "\n" not in str(info.value)


def test_a_data_path_longer_than_the_file_system_allows_is_one_line() -> None:
    from hwai.data.loaders import _read_source

    with pytest.raises(DataError, match="File name too long"):
        _read_source("x" * 300 + ".npz", {})
