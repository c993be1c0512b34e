"""ROC and precision-recall curves from exact counts, decimated for plotting.

The exact ROC curve is piecewise linear through these vertices, from (0, 0) to (1, 1): for
each anomaly score ``u_j`` from the highest down, lowering the threshold to just above ``u_j``
adds the inliers scoring strictly between ``u_j`` and ``u_{j+1}`` (a horizontal step), then to
``u_j`` adds its ``c_j`` anomaly and ``E_j`` inlier pixels (a diagonal). Its trapezoidal area
is the AUROC. The PR curve has one point per ``u_j`` (recall TP/P, precision TP/(TP+FP)); AP is
its step sum. A curve for a report needs a few hundred points, not millions: decimation keeps
the end points and points evenly spaced along the curve's length, so that steep and flat parts
both keep their shape.
"""

from __future__ import annotations

import numpy as np

from pebal.metrics.counts import PixelCounts


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` points of the polyline (x, y), ends included, spread
    evenly along its arc length (in the unit square)."""
    if x.size <= max_points:
        return np.arange(x.size)
    seg = np.hypot(np.diff(x), np.diff(y))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, arc[-1], max_points)
    idx = np.searchsorted(arc, targets, side="left")
    idx = np.clip(idx, 0, x.size - 1)
    return np.unique(np.concatenate([[0], idx, [x.size - 1]]))


def roc_curve(counts: PixelCounts, max_points: int | None = 512) -> dict:
    """ROC vertices: ``fpr``, ``tpr`` (float64, from (0, 0) to (1, 1)) and ``threshold`` (the
    score at which each vertex is reached; ``inf`` for the origin, NaN for the horizontal-step
    corners, whose threshold is an inlier score the counts do not keep)."""
    counts.require_both_classes("the ROC curve")
    tp, below, equal, fp = counts.cumulative()
    p, n = counts.num_positive, counts.num_negative
    u = counts.thresholds.astype(np.float64)
    k = tp.size
    tp_next = np.append(tp[1:], 0)  # TP just above u_j
    # descending thresholds: for j = U-1 .. 0: corner (FP above u_j, TP_{j+1}), then (FP_j, TP_j)
    fps = np.empty(2 * k + 2, np.int64)
    tps = np.empty(2 * k + 2, np.int64)
    thr = np.empty(2 * k + 2, np.float64)
    fps[0], tps[0], thr[0] = 0, 0, np.inf
    fps[1:-1:2] = (n - below - equal)[::-1]
    tps[1:-1:2] = tp_next[::-1]
    thr[1:-1:2] = np.nan
    fps[2:-1:2] = fp[::-1]
    tps[2:-1:2] = tp[::-1]
    thr[2:-1:2] = u[::-1]
    fps[-1], tps[-1], thr[-1] = n, p, -np.inf
    keep = np.concatenate([[True], (np.diff(fps) != 0) | (np.diff(tps) != 0)])
    fpr, tpr, thr = fps[keep] / n, tps[keep] / p, thr[keep]
    if max_points is not None:
        idx = decimate(fpr, tpr, max_points)
        fpr, tpr, thr = fpr[idx], tpr[idx], thr[idx]
    return {"fpr": fpr, "tpr": tpr, "threshold": thr}


def pr_curve(counts: PixelCounts, max_points: int | None = 512) -> dict:
    """PR points by increasing recall: ``recall``, ``precision``, ``threshold`` (float64)."""
    counts.require_both_classes("the PR curve")
    tp, _, _, fp = counts.cumulative()
    recall = (tp / counts.num_positive)[::-1]
    precision = (tp / (tp + fp))[::-1]
    thr = counts.thresholds.astype(np.float64)[::-1]
    if max_points is not None:
        idx = decimate(recall, precision, max_points)
        recall, precision, thr = recall[idx], precision[idx], thr[idx]
    return {"recall": recall, "precision": precision, "threshold": thr}


def curves_from_counts(counts: PixelCounts, max_points: int | None = 512) -> dict:
    """``{"roc": roc_curve(...), "pr": pr_curve(...)}``."""
    return {"roc": roc_curve(counts, max_points), "pr": pr_curve(counts, max_points)}
