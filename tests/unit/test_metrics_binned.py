"""SMIYC binned mode against a direct, independent implementation of its definition."""

import numpy as np
import pytest

from pebal.metrics import pixel_metrics


def smiyc_direct(frames_scores, frames_labels, num_bins):
    """Per frame: quantile edges, then TP/FP per lower-edge threshold by direct counting."""
    steps = []  # (threshold, tp in bin, fp in bin)
    p = n = 0
    for s, lab in zip(frames_scores, frames_labels):
        pos, neg = s[lab == 1], s[lab == 0]
        p, n = p + pos.size, n + neg.size
        edges = {0.0, 1.0}
        for v in (pos, neg):
            if v.size:
                edges |= set(np.quantile(v, np.linspace(0, 1, min(num_bins // 2, v.size))).tolist())
        edges = sorted(edges)
        pos, neg = pos.astype(np.float64), neg.astype(np.float64)  # compare at the edges' precision
        for i in range(len(edges) - 1):
            lo, hi = edges[i], edges[i + 1]
            last = i == len(edges) - 2
            inb = lambda v: ((v >= lo) & ((v <= hi) if last else (v < hi))).sum()  # noqa: E731
            steps.append((lo, int(inb(pos)), int(inb(neg))))
    steps.sort(key=lambda t: (-t[0], -t[1], -t[2]))
    pts, tp, fp = [], 0, 0
    for k, (thr, a, b) in enumerate(steps):
        tp, fp = tp + a, fp + b
        if k == 0 or k == len(steps) - 1 or thr != steps[k + 1][0]:
            pts.append((tp, fp))
    if pts[0] != (0, 0):
        pts.insert(0, (0, 0))
    if pts[-1] != (p, n):
        pts.append((p, n))
    tpr = np.array([a / p for a, _ in pts])
    fpr = np.array([b / n for _, b in pts])
    prec = np.array([a / (a + b) if a + b else 1.0 for a, b in pts])
    auroc = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(pts) - 1))
    ap = sum((tpr[i + 1] - tpr[i]) * prec[i + 1] for i in range(len(pts) - 1))
    fpr95 = fpr[np.argmax(tpr >= 0.95)]
    return auroc, ap, fpr95


@pytest.mark.parametrize("num_bins", [8, 768])
def test_binned_matches_direct_definition(num_bins):
    rng = np.random.default_rng(num_bins)
    s = np.clip(rng.normal(0.3, 0.2, (3, 12, 16)), 0, 1).astype(np.float16)
    lab = (rng.random((3, 12, 16)) < 0.15).astype(np.uint8)
    s[lab == 1] = np.clip(s[lab == 1] + 0.3, 0, 1)
    lab[0, :2] = 255
    r = pixel_metrics(s, lab, mode="smiyc", num_bins=num_bins)
    auroc, ap, fpr95 = smiyc_direct([s[i][lab[i] != 255] for i in range(3)], [lab[i][lab[i] != 255] for i in range(3)], num_bins)
    assert r["auroc"] == pytest.approx(auroc, abs=1e-12)
    assert r["ap"] == pytest.approx(ap, abs=1e-12)
    assert r["fpr95"] == pytest.approx(fpr95, abs=1e-12)


def test_binned_is_close_to_exact_on_larger_data():
    rng = np.random.default_rng(5)
    lab = (rng.random((4, 64, 64)) < 0.05).astype(np.uint8)
    s = (rng.random((4, 64, 64)) * 0.8 + 0.2 * lab).astype(np.float32)
    exact = pixel_metrics(s, lab)
    binned = pixel_metrics(s, lab, mode="smiyc")
    assert abs(exact["auroc"] - binned["auroc"]) < 5e-3
    assert abs(exact["ap"] - binned["ap"]) < 5e-3
