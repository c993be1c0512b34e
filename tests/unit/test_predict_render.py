"""Heat maps on a stated scale, robust ranges, the threshold tick, the cyan final prediction and overlays:
hand-computed pixels."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from pebal.inference import render
from pebal.labels import ANOMALY_COLOR, CITYSCAPES_PALETTE


def test_normalise_score_is_a_fixed_clipped_affine_map():
    s = np.array([-30.0, -20.0, -15.0, -10.0, 0.0, 4.0])
    np.testing.assert_allclose(render.normalise_score(s, (-20, 0)), [0, 0, 0.25, 0.5, 1, 1])
    np.testing.assert_allclose(render.normalise_score(np.array([-6.0]), (-8, -4)), [0.5])


def test_lut_is_the_matplotlib_colormap():
    lut = render.colormap_lut("inferno")
    cmap = matplotlib.colormaps["inferno"]
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    np.testing.assert_array_equal(lut[0], np.round(np.array(cmap(0.0)[:3]) * 255))
    np.testing.assert_array_equal(lut[255], np.round(np.array(cmap(1.0)[:3]) * 255))
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        render.colormap_lut("nope")


def test_heatmap_colour_depends_on_the_score_not_on_the_image():
    lut = render.colormap_lut("inferno")
    a = render.heatmap(np.array([[-10.0, -19.0]]), (-20, 0))
    b = render.heatmap(np.array([[-10.0, -1.0]]), (-20, 0))
    # -10 is the middle of the range: round(0.5 * 255) = 128 in both images, whatever their min/max
    np.testing.assert_array_equal(a[0, 0], lut[128])
    np.testing.assert_array_equal(b[0, 0], lut[128])
    np.testing.assert_array_equal(a[0, 1], lut[13])  # round(0.05 * 255) = round(12.75)
    np.testing.assert_array_equal(render.heatmap(np.array([[-99.0, 5.0]]), (-20, 0))[0], lut[[0, 255]])


def test_score_range_is_checked():
    for bad in [(0, 0), (1, -1), (float("nan"), 0), (1,), "ab"]:
        with pytest.raises(ValueError, match="score range"):
            render.check_score_range(bad)


def test_colorbar_runs_from_low_to_high():
    bar = render.colorbar((-20, 0), width=64, height=3)
    lut = render.colormap_lut()
    assert bar.shape == (3, 64, 3)
    np.testing.assert_array_equal(bar[:, 0], np.repeat(lut[:1], 3, axis=0))
    np.testing.assert_array_equal(bar[:, -1], np.repeat(lut[255:], 3, axis=0))


def test_final_prediction_paints_anomalies_cyan():
    seg = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    mask = np.array([[False, True], [False, False]])
    out = render.final_prediction(seg, mask)
    assert tuple(out[0, 1]) == ANOMALY_COLOR == (0, 255, 255)
    np.testing.assert_array_equal(out[0, 0], CITYSCAPES_PALETTE[0])
    np.testing.assert_array_equal(out[1, 1], CITYSCAPES_PALETTE[3])
    np.testing.assert_array_equal(render.final_prediction(seg, None)[0, 1], CITYSCAPES_PALETTE[1])
    with pytest.raises(ValueError, match="mask shape"):
        render.final_prediction(seg, np.zeros((3, 3), bool))


def test_overlay_weight_grows_with_the_score():
    image = np.full((1, 3, 3), 100, dtype=np.uint8)
    score = np.array([[0.0, -20.0, -10.0]])  # top, bottom and middle of the scale
    lut = render.colormap_lut()
    out = render.overlay(image, score, score_range=(-20, 0), alpha=0.8)
    # weight a = alpha * t^2: t = 1 -> 0.8, t = 0 -> 0 (the scene unchanged), t = 0.5 -> 0.2
    np.testing.assert_array_equal(out[0, 0], np.round(0.2 * 100 + 0.8 * lut[255].astype(float)))
    np.testing.assert_array_equal(out[0, 1], [100, 100, 100])
    np.testing.assert_array_equal(out[0, 2], np.round(0.8 * 100 + 0.2 * lut[128].astype(float)))
    default = render.overlay(image, score, score_range=(-20, 0))
    np.testing.assert_array_equal(default[0, 0], np.round((1 - render.OVERLAY_ALPHA) * 100 + render.OVERLAY_ALPHA
                                                          * lut[255].astype(float)))
    with pytest.raises(ValueError, match="differs from score map size"):
        render.overlay(image, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="alpha"):
        render.overlay(image, score, alpha=1.5)


def test_robust_range_and_heatmap_without_a_scale():
    score = np.linspace(-15.0, -3.0, 10_001, dtype=np.float32).reshape(73, 137)
    low, high = render.robust_range(score)
    assert low == pytest.approx(np.percentile(score, 1)) and high == pytest.approx(np.percentile(score, 99.9))
    np.testing.assert_array_equal(render.heatmap(score), render.heatmap(score, (low, high)))
    assert render.robust_range(np.full((4, 4), -7.0)) == (-8.0, -6.0)  # constant map: a unit either side
    with_nan = score.copy()
    with_nan[0, :5] = np.nan
    assert render.robust_range(with_nan)[1] == pytest.approx(high, abs=1e-3)  # NaN ignored, not propagated
    assert render.robust_range(np.full((2, 2), np.nan)) == (0.0, 1.0)


def test_colorbar_marks_the_threshold():
    bar = render.colorbar((-10, -2), width=81, height=4, threshold=-4.0)
    x = render.threshold_column(-4.0, (-10, -2), 81)
    assert x == 60  # (-4 + 10) / 8 * 80
    assert all(tuple(bar[r, c]) == ANOMALY_COLOR for r in range(4) for c in (59, 60, 61))
    assert tuple(bar[0, 58]) == (0, 0, 0) and tuple(bar[0, 62]) == (0, 0, 0)  # dark edges
    plain = render.colorbar((-10, -2), width=81, height=4)
    np.testing.assert_array_equal(bar[:, :57], plain[:, :57])
    np.testing.assert_array_equal(render.colorbar((-10, -2), width=81, height=4, threshold=5.0), plain)  # outside


def test_mask_outline_is_the_inner_border():
    mask = np.zeros((6, 7), bool)
    mask[1:5, 1:6] = True
    outline = render.mask_outline(mask, width=1)
    expected = mask.copy()
    expected[2:4, 2:5] = False  # what survives one erosion by the 3x3 cross is interior, not outline
    np.testing.assert_array_equal(outline, expected)
    # the image border is not drawn: a region touching it is open there
    np.testing.assert_array_equal(render.mask_outline(np.ones((3, 3), bool), width=1), np.zeros((3, 3), bool))
    left = np.zeros((3, 4), bool)
    left[:, :2] = True
    np.testing.assert_array_equal(render.mask_outline(left, width=1), [[0, 1, 0, 0]] * 3)


def test_overlay_paints_the_outline_cyan_and_keeps_the_inside():
    image = np.full((5, 5, 3), 50, dtype=np.uint8)
    score = np.zeros((5, 5))
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    out = render.overlay(image, score, mask, score_range=(-20, 0))
    plain = render.overlay(image, score, None, score_range=(-20, 0))
    assert tuple(plain[2, 2]) != (50, 50, 50)  # the top of the scale tints the scene
    assert tuple(out[1, 1]) == ANOMALY_COLOR and tuple(out[3, 2]) == ANOMALY_COLOR
    np.testing.assert_array_equal(out[2, 2], plain[2, 2])  # interior: heat map still visible
    np.testing.assert_array_equal(out[0, 0], plain[0, 0])
