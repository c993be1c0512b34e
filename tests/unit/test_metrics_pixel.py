"""Exact pixel metrics against scikit-learn and against direct implementations of the rules."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from pebal.metrics import (
    MetricInputError,
    MissingClassError,
    best_f1_threshold,
    counts_from_arrays,
    pixel_metrics,
    pr_curve,
    roc_curve as pebal_roc_curve,
    threshold_at_fpr,
    threshold_at_tpr,
)
from pebal.metrics import keys as K
from pebal.metrics.counts import NegativeBinner


def make_maps(rng, n=3, h=20, w=30, p_pos=0.1, p_void=0.1, ties="float16", dtype=np.float32):
    lab = (rng.random((n, h, w)) < p_pos).astype(np.uint8)
    lab[rng.random((n, h, w)) < p_void] = 255
    s = rng.normal(size=(n, h, w)) + 1.2 * (lab == 1)
    if ties == "float16":
        s = s.astype(np.float16)
    elif ties == "coarse":
        s = np.round(s * 4) / 4
    return s.astype(dtype), lab


def sklearn_reference(s, lab):
    m = lab != 255
    y, x = (lab[m] == 1).astype(int), s[m].astype(np.float64)
    fpr, tpr, _ = roc_curve(y, x, drop_intermediate=False)
    return roc_auc_score(y, x), average_precision_score(y, x), fpr[np.argmax(tpr >= 0.95)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", ["float16", "coarse", None])
def test_matches_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    s, lab = make_maps(rng, n=int(rng.integers(1, 5)), ties=ties)
    lab[0][lab[0] == 1] = 0  # one image without anomaly still contributes its negatives
    if not (lab == 1).any():
        lab[-1, 0, 0] = 1
    r = pixel_metrics(s, lab)
    auroc, ap, fpr95 = sklearn_reference(s, lab)
    assert abs(r["auroc"] - auroc) < 1e-9
    assert abs(r["ap"] - ap) < 1e-9
    assert abs(r["fpr95"] - fpr95) < 1e-9


def test_float64_and_torch_inputs_keep_resolution():
    rng = np.random.default_rng(7)
    s, lab = make_maps(rng, ties=None, dtype=np.float64)
    s[0, 0, :4] = [1.0, 1.0 + 1e-12, 1.0 + 2e-12, 1.0]  # equal in float32, distinct in float64
    lab[0, 0, :4] = [1, 0, 1, 0]
    r = pixel_metrics(torch.from_numpy(s), torch.from_numpy(lab))
    auroc, ap, fpr95 = sklearn_reference(s, lab)
    assert abs(r["auroc"] - auroc) < 1e-9 and abs(r["ap"] - ap) < 1e-9 and abs(r["fpr95"] - fpr95) < 1e-9
    half = pixel_metrics(torch.from_numpy(s).to(torch.bfloat16), torch.from_numpy(lab))
    ref16 = sklearn_reference(torch.from_numpy(s).to(torch.bfloat16).float().numpy(), lab)
    assert abs(half["auroc"] - ref16[0]) < 1e-9


def test_hand_computed_tiny_case():
    # scores 0.1(neg) 0.4(pos) 0.4(neg) 0.8(pos): Mann-Whitney = (1 + 0.5 + 1 + 1) / 4
    s = np.array([[0.1, 0.4, 0.4, 0.8]], np.float32)
    lab = np.array([[0, 1, 0, 1]], np.uint8)
    r = pixel_metrics(s, lab)
    assert r["auroc"] == pytest.approx(0.875, abs=1e-15)
    assert r["ap"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3, abs=1e-15)
    assert r["fpr95"] == 0.5 and r["fpr95_threshold"] == pytest.approx(0.4)


def hendrycks_direct(s, lab, level=0.95):
    """The reference rule, directly: all distinct thresholds (descending) down to the lowest
    anomaly score, recall closest to ``level``, ties to the lowest threshold."""
    m = lab != 255
    y, x = lab[m] == 1, s[m].astype(np.float64)
    p, n = y.sum(), (~y).sum()
    best = None
    for t in np.unique(x)[::-1]:
        if t < x[y].min():
            break
        recall = (x[y] >= t).sum() / p
        d = abs(recall - level)
        if best is None or d <= best[0]:  # later (lower) thresholds win ties
            best = (d, (x[~y] >= t).sum() / n)
    return best[1]


@pytest.mark.parametrize("seed", range(5))
def test_reference_fpr95_rule(seed):
    rng = np.random.default_rng(100 + seed)
    s, lab = make_maps(rng, n=2, h=10, w=15, ties="coarse")
    r = pixel_metrics(s, lab)
    assert r["fpr95_reference"] == pytest.approx(hendrycks_direct(s, lab), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_operating_points_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    s, lab = make_maps(rng, n=2, h=12, w=12, ties="coarse")
    m = lab != 255
    y, x = lab[m] == 1, s[m]
    ts = np.unique(x[y])
    tpr = np.array([(x[y] >= t).mean() for t in ts])
    fpr = np.array([(x[~y] >= t).mean() for t in ts])
    tp = np.array([(x[y] >= t).sum() for t in ts])
    fp = np.array([(x[~y] >= t).sum() for t in ts])
    f1 = 2 * tp / (tp + fp + y.sum())
    counts = counts_from_arrays(s, lab)
    assert threshold_at_tpr(counts, 0.95).threshold == ts[tpr >= 0.95].max()
    assert threshold_at_tpr(counts, 0.5).threshold == ts[tpr >= 0.5].max()
    op = threshold_at_fpr(counts, 0.1)
    assert op.threshold == ts[fpr <= 0.1].min() and op.fpr <= 0.1
    b = best_f1_threshold(counts)
    assert b.f1 == pytest.approx(f1.max()) and b.threshold == ts[f1 == f1.max()].max()
    assert threshold_at_fpr(counts, 0.0).fpr == 0.0


def test_curves_reproduce_auroc_and_ap():
    rng = np.random.default_rng(3)
    s, lab = make_maps(rng, n=2, ties="coarse")
    counts = counts_from_arrays(s, lab)
    r = pixel_metrics(s, lab)
    roc = pebal_roc_curve(counts, max_points=None)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(r["auroc"], abs=1e-12)
    pr = pr_curve(counts, max_points=None)
    assert np.sum(np.diff(np.concatenate([[0], pr["recall"]])) * pr["precision"]) == pytest.approx(r["ap"], abs=1e-12)
    small = pebal_roc_curve(counts, max_points=16)
    assert len(small["fpr"]) <= 18 and small["fpr"][0] == 0 and small["tpr"][-1] == 1


def test_keys_preserve_order_and_zero():
    x = np.array([-np.inf, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, np.finfo(np.float32).max], np.float32)
    k = K.to_keys(x)
    assert k[3] == k[4] and np.all(np.diff(k.astype(np.int64))[[0, 1, 2, 4, 5, 6]] > 0)
    assert np.array_equal(K.from_keys(k, 32), x + np.float32(0))
    x64 = np.random.default_rng(0).normal(size=1000)
    assert np.array_equal(np.argsort(K.to_keys(x64), kind="stable"), np.argsort(x64 + 0.0, kind="stable"))
    assert np.array_equal(K.from_keys(K.widen_keys(K.to_keys(x[1:-1])), 64), x[1:-1].astype(np.float64) + 0.0)


@pytest.mark.parametrize("bits", [32, 64])
def test_binner_crowded_buckets(bits):
    """Anomaly keys packed densely (crowded sub-buckets, and more than the candidate limit)."""
    rng = np.random.default_rng(bits)
    udt = K.key_dtype(bits)
    base = 1 << (bits - 2)
    u = np.unique(np.concatenate([base + rng.integers(0, 40, 30), base + 10**6 + np.arange(0, 50, 7),
                                  rng.integers(0, 2**31, 20)])).astype(udt)
    x = np.concatenate([base + rng.integers(-5, 60, 5000), base + 10**6 + rng.integers(-3, 60, 2000),
                        rng.integers(0, 2**31, 3000), u]).astype(udt)
    b = NegativeBinner(u, bits)
    b.add(x)
    expected = np.bincount(np.searchsorted(u, x, "left") + np.searchsorted(u, x, "right"), minlength=2 * u.size + 1)
    assert np.array_equal(b.finish(), expected)


def test_degenerate_data_raise_named_error():
    s = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
    with pytest.raises(MissingClassError, match="no anomaly"):
        pixel_metrics(s, np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(MissingClassError, match="no inlier"):
        pixel_metrics(s, np.ones((2, 4, 4), np.uint8))
    lab = np.full((2, 4, 4), 255, np.uint8)
    with pytest.raises(MissingClassError):
        pixel_metrics(s, lab)


def test_bad_input_names_the_image():
    rng = np.random.default_rng(0)
    s = rng.random((3, 4, 4)).astype(np.float32)
    lab = (rng.random((3, 4, 4)) < 0.5).astype(np.uint8)
    bad = s.copy()
    bad[2, 1, 1] = np.nan
    with pytest.raises(MetricInputError, match="image 2.*not finite"):
        pixel_metrics(bad, lab)
    void = lab.copy()
    void[2, 1, 1] = 255  # a NaN under a void pixel is not evaluated
    pixel_metrics(bad, void)
    bad = s.copy()
    bad[1, 0, 0] = np.inf
    with pytest.raises(MetricInputError, match="image 1"):
        pixel_metrics(bad, lab)
    lab7 = lab.copy()
    lab7[1, 2, 2] = 7
    with pytest.raises(MetricInputError, match=r"image 1.*found 7"):
        pixel_metrics(s, lab7)
    with pytest.raises(MetricInputError, match="same shape"):
        pixel_metrics(s, lab[:, :3])
    with pytest.raises(MetricInputError, match="floating"):
        pixel_metrics(s.astype(np.int32), lab)


def test_flat_pixel_arrays_equal_maps_numpy_and_torch():
    import torch

    rng = np.random.default_rng(4)
    scores = rng.normal(size=(3, 8, 9)).astype(np.float32)
    labels = (rng.random((3, 8, 9)) < 0.2).astype(np.uint8)
    labels[0, 0, :3] = 255
    maps = pixel_metrics(scores, labels)
    flat = pixel_metrics(scores.reshape(-1), labels.reshape(-1))
    flat_torch = pixel_metrics(torch.from_numpy(scores.reshape(-1)), torch.from_numpy(labels.reshape(-1)))
    for key in ("auroc", "ap", "fpr95"):
        assert flat[key] == maps[key] == flat_torch[key]
    keep = labels.reshape(-1) != 255
    assert flat["auroc"] == pytest.approx(roc_auc_score(labels.reshape(-1)[keep], scores.reshape(-1)[keep]), abs=1e-12)


def test_component_metrics_refuse_flat_pixels():
    from pebal.metrics import component_metrics

    with pytest.raises(MetricInputError, match=r"\(H, W\)"):
        component_metrics(np.zeros(10, np.float32), np.zeros(10, np.uint8), threshold=0.5)
