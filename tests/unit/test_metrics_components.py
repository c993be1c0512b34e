"""Component metrics against a slow, direct implementation of the SMIYC definition."""

import numpy as np
import pytest

from pebal.metrics import (
    ComponentMetrics,
    ComponentRecord,
    NoComponentsError,
    best_f1_threshold,
    component_metrics,
    counts_from_arrays,
    pixel_metrics,
    smiyc_component_metrics,
)
from pebal.metrics.components import SIOU_THRESHOLDS


def label_8(mask):
    """Connected components by flood fill with 8-connectivity (no scipy)."""
    h, w = mask.shape
    out = np.zeros((h, w), int)
    k = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not out[y, x]:
                k += 1
                stack = [(y, x)]
                out[y, x] = k
                while stack:
                    cy, cx = stack.pop()
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not out[ny, nx]:
                                out[ny, nx] = k
                                stack.append((ny, nx))
    return out, k


def direct(score, label, thr, min_gt, min_pred, strict=False):
    """The benchmark's rules literally: the threshold compared in the score dtype, the size test
    over every gt component id including 0 (the background)."""
    valid = label != 255
    gl, ng = label_8(label == 1)
    t = score.dtype.type(thr)
    pl, npred = label_8(((score > t) if strict else (score >= t)) & valid)
    for q in range(1, npred + 1):
        if (pl == q).sum() < min_pred:
            pl[pl == q] = 0
    roi = valid.copy()
    for k in range(0, ng + 1):
        if (gl == k).sum() < min_gt:
            roi[gl == k] = False
    siou_gt, ppv = [], []
    for k in range(1, ng + 1):
        comp = (gl == k) & roi
        if not comp.any():
            continue
        touched = set(pl[comp].tolist()) - {0}
        khat = np.isin(pl, list(touched)) & roi
        other_gt = (gl > 0) & (gl != k) & roi
        inter = (comp & khat).sum()
        union = ((comp | khat) & ~other_gt).sum()
        siou_gt.append(inter / union)
    for q in range(1, npred + 1):
        comp = (pl == q) & roi
        if not comp.any():
            continue
        ppv.append((comp & (gl > 0)).sum() / comp.sum())
    return siou_gt, ppv


def blobs(rng, h=24, w=28):
    lab = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 5)):
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        lab[y : y + rng.integers(1, 7), x : x + rng.integers(1, 7)] = 1
    lab[rng.random((h, w)) < 0.03] = 1
    lab[rng.random((h, w)) < 0.05] = 255
    score = rng.random((h, w)) * 0.7 + 0.4 * (lab == 1) + 0.2 * rng.random((h, w))
    return score.astype(np.float32), lab


@pytest.mark.parametrize("seed", range(8))
def test_matches_direct_definition(seed):
    rng = np.random.default_rng(seed)
    images = [blobs(rng) for _ in range(3)]
    thr, min_gt, min_pred = 0.6, 3, 4
    m = ComponentMetrics(thr, track=None, min_gt_size=min_gt, min_pred_size=min_pred)
    all_siou, all_ppv = [], []
    for s, lab in images:
        m.update(s, lab)
        a, b = direct(s, lab, thr, min_gt, min_pred)
        all_siou += a
        all_ppv += b
    if not all_siou:
        with pytest.raises(NoComponentsError):
            m.compute()
        return
    r = m.compute()
    siou, ppv = np.array(all_siou), np.array(all_ppv)
    assert r["num_gt_components"] == siou.size and r["num_pred_components"] == ppv.size
    assert r["siou_gt"] == pytest.approx(siou.mean(), abs=1e-12)
    if ppv.size:
        assert r["ppv"] == pytest.approx(ppv.mean(), abs=1e-12)
    f1 = []
    for tau in SIOU_THRESHOLDS:
        tp = (siou >= tau).sum()
        f1.append(2 * tp / (2 * tp + (siou.size - tp) + (ppv < tau).sum()))
    assert r["f1_mean"] == pytest.approx(np.mean(f1), abs=1e-12)
    assert r["f1_50"] == pytest.approx(f1[5], abs=1e-12)


def test_hand_computed_adjusted_iou():
    # two gt blobs bridged by one prediction: each gt's sIoU excludes the other gt's pixels
    lab = np.zeros((6, 12), np.uint8)
    lab[1:4, 1:4] = 1  # 9 px
    lab[1:4, 8:11] = 1  # 9 px
    s = np.zeros((6, 12), np.float32)
    s[2, 1:11] = 1.0  # 10 px prediction touching both
    r = component_metrics(s, lab, threshold=0.5, track=None, min_gt_size=1, min_pred_size=1)
    # gt 1: inter 3, union = (9 + 10 - 3) - 3 (other gt's pixels in the prediction) = 13
    assert r["siou_gt"] == pytest.approx(3 / 13)
    assert r["ppv"] == pytest.approx(6 / 10)


def test_default_threshold_is_best_pixel_f1():
    rng = np.random.default_rng(0)
    s, lab = blobs(rng)
    r = component_metrics(s, lab, track=None, min_gt_size=1, min_pred_size=1)
    assert r["threshold"] == best_f1_threshold(counts_from_arrays(s, lab)).threshold
    with pytest.raises(ValueError, match="unknown track"):
        ComponentMetrics(0.5, track="road")
    assert ComponentMetrics(0.5, track="obstacle").min_pred_size == 50


def test_strict_threshold_is_compared_in_the_score_dtype():
    # float16 map: a float64 threshold just below 0.5 rounds to 0.5 in float16, so with the
    # benchmark's strict ">" the 0.5 pixels are not predicted (numpy 1.23 casts the scalar)
    lab = np.zeros((8, 8), np.uint8)
    lab[2:5, 2:5] = 1
    s = np.zeros((8, 8), np.float16)
    s[2:5, 2:5] = 0.5
    r16 = component_metrics(s, lab, threshold=0.49999, track=None, min_gt_size=1, min_pred_size=1, strict=True)
    r32 = component_metrics(s.astype(np.float32), lab, threshold=0.49999, track=None, min_gt_size=1,
                            min_pred_size=1, strict=True)
    assert r16["num_pred_components"] == 0 and r16["ppv"] is None and r16["siou_pred"] is None
    assert r16["f1_mean"] == 0.0 and r16["siou_gt"] == 0.0
    assert r32["num_pred_components"] == 1 and r32["siou_gt"] == 1.0


def test_background_smaller_than_min_gt_size_leaves_the_roi():
    # the benchmark's size test also covers component 0: with 6 background pixels and
    # min_gt_size 10 the background becomes void, and a prediction there is no false positive
    lab = np.zeros((6, 6), np.uint8)
    lab[:5] = 1  # one gt component of 30 px
    s = np.zeros((6, 6), np.float32)
    s[:4] = 1.0  # predicts 24 of its pixels
    s[5] = 1.0  # and the whole background row (a second component)
    kept = component_metrics(s, lab, threshold=0.5, track=None, min_gt_size=5, min_pred_size=1)
    void = component_metrics(s, lab, threshold=0.5, track=None, min_gt_size=10, min_pred_size=1)
    assert kept["num_pred_components"] == 2 and kept["ppv"] == 0.5
    assert void["num_pred_components"] == 1 and void["ppv"] == 1.0
    assert kept["siou_gt"] == void["siou_gt"] == 0.8
    for min_gt in (5, 10):
        assert direct(s, lab, 0.5, min_gt, 1)[1] == ([1.0, 0.0] if min_gt == 5 else [1.0])


@pytest.mark.parametrize("seed", range(4))
def test_smiyc_one_call_uses_the_binned_best_f1_threshold_strictly(seed):
    rng = np.random.default_rng(100 + seed)
    images = [blobs(rng) for _ in range(3)]
    s = np.stack([im[0] for im in images]).astype(np.float16)
    lab = np.stack([im[1] for im in images])
    thr = pixel_metrics(s, lab, mode="smiyc")["best_f1_threshold"]
    try:
        r = smiyc_component_metrics(s, lab, track="obstacle", per_component=True)
    except NoComponentsError:
        return
    assert r["threshold"] == thr and r["strict"] is True and r["pixel"]["mode"] == "smiyc"
    siou, ppv = [], []
    for i in range(3):
        a, b = direct(s[i], lab[i], thr, 10, 50, strict=True)
        siou += a
        ppv += b
    assert r["siou_gt"] == pytest.approx(np.mean(siou), abs=1e-12)
    records = r["components"]
    assert all(isinstance(c, ComponentRecord) for c in records)
    assert [c.siou for c in records if c.kind == "gt"] == pytest.approx(siou, abs=1e-15)
    assert [c.ppv for c in records if c.kind == "pred"] == pytest.approx(ppv, abs=1e-15)
    assert all(c.ppv is None for c in records if c.kind == "gt")
    assert {c.image for c in records} <= {0, 1, 2}


def test_records_name_image_component_and_size():
    lab = np.zeros((2, 10, 12), np.uint8)
    lab[0, 1:4, 1:4] = 1
    lab[1, 5:9, 5:10] = 1
    s = lab.astype(np.float32)
    s[1, 5:9, 9] = 0.0  # the prediction misses one column of the second gt component
    m = ComponentMetrics(0.5, track=None, min_gt_size=1, min_pred_size=1)
    m.update(s[0], lab[0])
    m.update(s[1], lab[1])
    recs = m.components()
    assert recs[0] == ComponentRecord(0, "gt", 1, 9, 1.0, None)
    assert recs[1] == ComponentRecord(0, "pred", 1, 9, 1.0, 1.0)
    assert recs[2] == ComponentRecord(1, "gt", 1, 20, 16 / 20, None)
    assert recs[3] == ComponentRecord(1, "pred", 1, 16, 16 / 20, 1.0)
