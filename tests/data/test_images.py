"""data.inputs: image: a particle at known (deta, dphi) lands in the right pixel, padding and
out-of-grid particles are ignored, normalisation and centring, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwai.data.images import image_config, jet_images, load_images
from hwai.errors import DataError
from tests.data.image_helpers import prong_npz

COLS = (0, 1, 2)   # pt_rel, deta, dphi


def _img(**kw: object) -> dict:
    return image_config({"image": {"size": 4, "extent": 0.8, "normalize": "none", **kw}})


@pytest.mark.unit
def test_particle_lands_in_its_pixel_and_padding_is_ignored() -> None:
    # pixel width 0.4: deta 0.5 -> row 3, dphi -0.3 -> col 1; deta -0.75 -> row 0, dphi 0.79 -> col 3
    x = np.array([[[0.6, 0.5, -0.3], [0.3, -0.75, 0.79], [0.9, 0.0, 0.0], [0.05, 0.9, 0.0]]], np.float32)
    mask = np.array([[1, 1, 0, 1]], np.uint8)     # the third particle is padding; the fourth is off the grid
    img = jet_images(x, mask, COLS, _img())[0, :, :, 0]
    want = np.zeros((4, 4), np.float32)
    want[3, 1], want[0, 3] = 0.6, 0.3
    assert np.array_equal(img, want)


@pytest.mark.unit
def test_normalise_sum_and_flatten() -> None:
    x = np.array([[[0.2, 0.1, 0.1], [0.6, -0.1, -0.1]]], np.float32)
    img = jet_images(x, np.ones((1, 2), np.uint8), COLS, _img(normalize="sum", flatten=True))
    assert img.shape == (1, 16) and np.isclose(img.sum(), 1.0)
    assert np.isclose(img[0, 2 * 4 + 2], 0.25) and np.isclose(img[0, 1 * 4 + 1], 0.75)
    empty = jet_images(x, np.zeros((1, 2), np.uint8), COLS, _img(normalize="sum"))
    assert not empty.any()                      # an image with no particles stays 0, no NaN


@pytest.mark.unit
def test_centroid_moves_the_jet_to_the_centre() -> None:
    x = np.array([[[0.5, 0.45, 0.45], [0.5, 0.55, 0.55]]], np.float32)   # centroid (0.5, 0.5)
    img = jet_images(x, np.ones((1, 2), np.uint8), COLS, _img(center="centroid"))[0, :, :, 0]
    assert img[1, 1] == pytest.approx(0.5) and img[2, 2] == pytest.approx(0.5)


@pytest.mark.unit
def test_load_images_splits_and_records_the_transform(tmp_path: Path) -> None:
    d = load_images({"source": str(prong_npz(tmp_path / "p.npz", n=200)), "image": {"size": 8}}, seed=1)
    assert d.x_train.shape[1:] == (8, 8, 1) and len(d.x_train) + len(d.x_val) + len(d.x_test) == 200
    assert d.meta["inputs"] == "image" and d.meta["image"]["size"] == 8
    assert np.allclose(d.x_test.reshape(len(d.x_test), -1).sum(axis=1), 1.0, atol=1e-5)   # normalize: sum


@pytest.mark.unit
def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.image.center 'middle' must be one of axis, centroid"):
        image_config({"image": {"center": "middle"}})
    path = tmp_path / "bad.npz"
    np.savez(path, Xp=np.zeros((10, 2, 2), np.float32), mask=np.ones((10, 2), np.uint8), y=np.arange(10) % 2,
             particle_feature_names=np.array(["pt_rel", "eta"]))
    with pytest.raises(DataError, match=r"needs particle features pt_rel, deta, dphi; .* lacks deta, dphi"):
        load_images({"source": str(path)}, seed=0)


@pytest.mark.unit
def test_scale_log_and_sqrt_compress_pixels_keeping_0_and_1() -> None:
    # two particles sharing the jet 0.99 / 0.01: log(1 + v/0.01)/log(101) lifts the soft one to 0.15
    x = np.array([[[0.99, 0.1, 0.1], [0.01, -0.5, -0.5]]], np.float32)
    mask = np.ones((1, 2), np.uint8)
    lin = jet_images(x, mask, COLS, _img(normalize="sum", flatten=True))[0]
    log = jet_images(x, mask, COLS, _img(normalize="sum", flatten=True, scale="log"))[0]
    sq = jet_images(x, mask, COLS, _img(normalize="sum", flatten=True, scale="sqrt"))[0]
    hard, soft = 2 * 4 + 2, 0 * 4 + 0
    assert log[soft] == pytest.approx(np.log(2.0) / np.log(101.0), rel=1e-6)
    assert log[hard] == pytest.approx(np.log1p(99.0) / np.log(101.0), rel=1e-6)
    assert sq[soft] == pytest.approx(0.1, rel=1e-6) and sq[hard] == pytest.approx(np.sqrt(0.99), rel=1e-6)
    assert np.array_equal(lin == 0, log == 0) and np.array_equal(lin == 0, sq == 0)   # empty pixels stay 0
    whole = jet_images(x[:, :1], mask[:, :1], COLS, _img(normalize="sum", scale="log", log_eps=0.1))
    assert whole.max() == pytest.approx(1.0)    # a pixel holding the whole jet stays 1 for any log_eps


@pytest.mark.unit
def test_scale_errors_are_one_line() -> None:
    with pytest.raises(DataError, match=r"data.image.scale 'cube' must be one of linear, sqrt, log"):
        image_config({"image": {"scale": "cube"}})
    with pytest.raises(DataError, match=r"data.image.log_eps 0 must be > 0"):
        image_config({"image": {"log_eps": 0}})


@pytest.mark.unit
def test_preprocessing_handoff_names_the_image_transform(tmp_path: Path) -> None:
    from hwai.codegen.preprocess import preprocessing_spec

    d = load_images({"source": str(prong_npz(tmp_path / "p.npz", n=200)),
                     "image": {"size": 4, "scale": "log", "log_eps": 0.05, "flatten": True}}, seed=1)
    spec = preprocessing_spec(d)
    assert spec["image"]["scale"] == "log" and spec["image"]["size"] == 4
    assert spec["formula"] == ("model_input[row][col] = log(1 + v / 0.05) / log(1 + 1 / 0.05), "
                               "v = pixel pT / image pT (float64; docs/anomaly.md)")
    v = d.x_train.astype(np.float64)    # pixels in [0, 1], the largest of each jet at most 1
    assert v.min() == 0.0 and 0.2 < v.max() <= 1.0 + 1e-6
