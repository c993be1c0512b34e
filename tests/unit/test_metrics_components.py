"""Component metrics against a slow, direct implementation of the SMIYC definition."""

import numpy as np
import pytest

from pebal.metrics import ComponentMetrics, NoComponentsError, best_f1_threshold, component_metrics, counts_from_arrays
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


def direct(score, label, thr, min_gt, min_pred):
    valid = label != 255
    gl, ng = label_8(label == 1)
    pl, npred = label_8((score >= thr) & valid)
    for q in range(1, npred + 1):
        if (pl == q).sum() < min_pred:
            pl[pl == q] = 0
    roi = valid.copy()
    for k in range(1, ng + 1):
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
