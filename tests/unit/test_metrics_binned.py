"""SMIYC binned mode against a literal, test-local re-implementation of the benchmark's rules.

The rules (SegmentMeIfYouCan/road-anomaly-benchmark at 1c7804e, numpy 1.23 as its requirements
pin), written out here step by step with plain Python loops so that they share no code with
pebal.metrics.binned:

frame: vmin/vmax of the ROI scores; vrange in the score dtype; eps = max(float(vrange) * 0.01,
0.01) (a numpy 1.23 scalar times a Python float is float64); edges = unique({vmin - eps,
vmax + eps} | quantiles of the anomaly scores | quantiles of the inlier scores), the quantiles
"linear" at min(num_bins // 2, n) levels with the neighbour difference taken in the score dtype;
histogram [e_k, e_k+1) (last closed); threshold of a bin = its lower edge.
aggregate: sort steps by threshold (descending), cumulate, keep index 0, the last index of each
run of equal thresholds and the last index, thresholds at the same indices; prepend (0, 0) with
threshold max + 1 when missing, append (P, N) with max - 1 when missing; AUROC trapezoid; AP
sum(diff(recall) * precision[1:]); FPR95 and best F1 at the first index, thresholds there.
"""

import math

import numpy as np
import pytest

from pebal.metrics import pixel_metrics
from pebal.metrics.binned import SMIYC_VERSION, linear_quantiles


def quantiles_1_23(values, m):
    v = sorted(values.tolist())
    dtype = values.dtype.type
    n = len(v)
    levels = [0.0] if m == 1 else [k * (1.0 / (m - 1)) for k in range(m)]
    if m > 1:
        levels[-1] = 1.0
    out = []
    for q in levels:
        i = (n - 1) * q
        if i >= n - 1:
            out.append(float(v[-1]))
            continue
        lo = math.floor(i)
        g = i - lo
        a, b = dtype(v[lo]), dtype(v[lo + 1])
        d = float(dtype(b - a))  # difference in the score dtype
        out.append(float(b) - d * (1 - g) if g >= 0.5 else float(a) + d * g)
    return out


def benchmark_rules(frames, num_bins):
    steps, p, n = [], 0, 0
    for pos, neg in frames:
        p, n = p + pos.size, n + neg.size
        both = np.concatenate([pos, neg])
        vmin, vmax = both.min(), both.max()
        eps = max(float(vmax - vmin) * 1e-2, 1e-2)
        edges = {float(vmin) - eps, float(vmax) + eps}
        for v in (pos, neg):
            if v.size:
                edges |= set(quantiles_1_23(v, min(num_bins // 2, v.size)))
        edges = sorted(edges)
        for k in range(len(edges) - 1):
            lo, hi, last = edges[k], edges[k + 1], k == len(edges) - 2
            inside = lambda x: sum(1 for y in x.tolist() if lo <= y and (y <= hi if last else y < hi))  # noqa: E731
            steps.append((lo, inside(pos), inside(neg)))
    # ties of equal thresholds: the (TP, FP)-descending order pebal documents
    steps.sort(key=lambda t: (-t[0], -t[1], -t[2]))
    pts, tp, fp = [], 0, 0
    for k, (thr, a, b) in enumerate(steps):
        tp, fp = tp + a, fp + b
        if k == 0:
            pts.append((tp, fp, thr))
        if k < len(steps) - 1 and thr != steps[k + 1][0]:
            pts.append((tp, fp, thr))
    pts.append((tp, fp, steps[-1][0]))
    if pts[0][:2] != (0, 0):
        pts.insert(0, (0, 0, max(t for *_, t in pts) + 1))
    if pts[-1][:2] != (p, n):
        pts.append((p, n, max(t for *_, t in pts) - 1))
    tpr = [a / p for a, _, _ in pts]
    fpr = [b / n for _, b, _ in pts]
    prec = [a / (a + b) if a + b else 1.0 for a, b, _ in pts]
    f1 = [2 * a / (2 * a + b + (p - a)) for a, b, _ in pts]
    auroc = math.fsum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(pts) - 1))
    ap = math.fsum((tpr[i + 1] - tpr[i]) * prec[i + 1] for i in range(len(pts) - 1))
    i95 = next(i for i, t in enumerate(tpr) if t >= 0.95)
    i_f1 = f1.index(max(f1))
    return {"auroc": auroc, "ap": ap, "fpr95": fpr[i95], "fpr95_threshold": pts[i95][2],
            "best_f1": f1[i_f1], "best_f1_threshold": pts[i_f1][2]}


def maps(kind, rng, n=3, h=14, w=18):
    lab = (rng.random((n, h, w)) < 0.12).astype(np.uint8)
    lab[:, 3:7, 4:9] = 1
    lab[rng.random((n, h, w)) < 0.05] = 255
    base = rng.random((n, h, w))
    if kind == "continuous16":
        s = (0.6 * base + 0.4 * (lab == 1) * rng.random((n, h, w))).astype(np.float16)
    elif kind == "saturated16":
        s = np.clip(1.4 * base + 0.6 * (lab == 1) - 0.2, 0, 1).astype(np.float16)
    elif kind == "binary16":
        s = ((0.5 * base + 0.5 * (lab == 1) * rng.random((n, h, w))) > 0.45).astype(np.float16)
    elif kind == "energy32":
        s = (-12 + 3 * base + 4 * (lab == 1) * rng.random((n, h, w))).astype(np.float32)
    else:
        s = (rng.normal(size=(n, h, w)) + 1.5 * (lab == 1)).astype(np.float64)
    lab[1][lab[1] == 1] = 0  # a frame without anomaly
    return s, lab


@pytest.mark.parametrize("kind", ["continuous16", "saturated16", "binary16", "energy32", "normal64"])
@pytest.mark.parametrize("num_bins", [8, 768])
def test_binned_follows_the_benchmark_rules(kind, num_bins):
    rng = np.random.default_rng(num_bins + len(kind))
    s, lab = maps(kind, rng)
    frames = [(s[i][lab[i] == 1], s[i][lab[i] == 0]) for i in range(s.shape[0])]
    expected = benchmark_rules(frames, num_bins)
    got = pixel_metrics(s, lab, mode="smiyc", num_bins=num_bins)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12, rel=0), key
    assert got["smiyc_version"] == SMIYC_VERSION


def test_binary_frame_gets_the_exact_roc():
    # outer edges min - eps / max + eps: a binary frame has bins [-0.01, 0), [0, 1), [1, 1.01], so
    # its ROC and PR points are the exact ones (edges fixed at {0, 1} merged both scores into one
    # bin: AUROC 0.5)
    rng = np.random.default_rng(3)
    lab = (rng.random((40, 50)) < 0.1).astype(np.uint8)
    s = ((rng.random((40, 50)) + 0.5 * lab) > 0.8).astype(np.float16)
    binned, exact = pixel_metrics(s, lab, mode="smiyc"), pixel_metrics(s, lab)
    assert binned["auroc"] == pytest.approx(exact["auroc"], abs=1e-12)
    assert binned["ap"] == pytest.approx(exact["ap"], abs=1e-12)
    assert binned["best_f1_threshold"] == 1.0 and exact["auroc"] > 0.6


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_linear_quantiles_match_the_numpy_1_23_formula(dtype):
    rng = np.random.default_rng(7)
    v = np.sort((rng.random(37) * 3 - 1).astype(dtype))
    for m in (1, 2, 5, 37, 384):
        levels = np.zeros(1) if m == 1 else np.linspace(0, 1, m)
        assert linear_quantiles(v, levels).tolist() == quantiles_1_23(v, m)
    if dtype == np.float64:  # every numpy agrees on float64
        assert np.array_equal(linear_quantiles(v, np.linspace(0, 1, 11)), np.quantile(v, np.linspace(0, 1, 11)))


def test_binned_is_close_to_exact_on_larger_data():
    rng = np.random.default_rng(5)
    lab = (rng.random((4, 64, 64)) < 0.05).astype(np.uint8)
    s = (rng.random((4, 64, 64)) * 0.8 + 0.2 * lab).astype(np.float32)
    exact = pixel_metrics(s, lab)
    binned = pixel_metrics(s, lab, mode="smiyc")
    assert abs(exact["auroc"] - binned["auroc"]) < 5e-3
    assert abs(exact["ap"] - binned["ap"]) < 5e-3
