"""Operating points: the score threshold to deploy, chosen on exact pixel counts.

A threshold ``t`` means "anomaly iff score >= t". Thresholds worth taking are the distinct
anomaly scores ``u_j`` (the TPR only changes there and, for a given TPR, the highest such
threshold has the fewest false positives), so every helper returns one of them, with the rates
it achieves. Each accepts :class:`~pebal.metrics.counts.PixelCounts` or an
:class:`~pebal.metrics.state.AnomalyMetrics` (whose ``counts()`` is used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pebal.metrics.counts import PixelCounts


@dataclass(frozen=True)
class OperatingPoint:
    """``threshold`` (anomaly iff score >= threshold) and what it achieves on the counts."""

    threshold: float
    tpr: float
    fpr: float
    precision: float
    f1: float
    true_positives: int
    false_positives: int


def _counts(state) -> PixelCounts:
    counts = state if isinstance(state, PixelCounts) else state.counts()
    counts.require_both_classes("operating points")
    return counts


def _point(counts: PixelCounts, j: int, tp: np.ndarray, fp: np.ndarray) -> OperatingPoint:
    p, n = counts.num_positive, counts.num_negative
    if j < 0:  # above every anomaly score: nothing is flagged
        return OperatingPoint(math.inf, 0.0, 0.0, 1.0, 0.0, 0, 0)
    t, f = int(tp[j]), int(fp[j])
    return OperatingPoint(
        threshold=float(counts.thresholds[j]),
        tpr=t / p,
        fpr=f / n,
        precision=t / (t + f),
        f1=2 * t / (t + f + p),
        true_positives=t,
        false_positives=f,
    )


def threshold_at_tpr(state, tpr: float = 0.95) -> OperatingPoint:
    """The highest threshold whose TPR >= ``tpr`` (float64 test ``TP / P >= tpr``, as
    scikit-learn's ``roc_curve``; for 0.95 the same as ``20 TP >= 19 P``)."""
    if not 0.0 <= tpr <= 1.0:
        raise ValueError(f"tpr must be in [0, 1], got {tpr}")
    counts = _counts(state)
    tp, _, _, fp = counts.cumulative()
    j = int(np.count_nonzero(tp / counts.num_positive >= tpr)) - 1
    return _point(counts, j, tp, fp)


def threshold_at_fpr(state, fpr: float) -> OperatingPoint:
    """The lowest threshold whose FPR <= ``fpr`` (the highest TPR within that FPR budget).

    When even the highest anomaly score lets through more than ``fpr`` of the inliers, the
    point flags nothing: ``threshold = inf``, TPR = FPR = 0.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    counts = _counts(state)
    tp, _, _, fp = counts.cumulative()
    ok = fp / counts.num_negative <= fpr  # FP falls with j: a suffix qualifies
    j = int(np.argmax(ok)) if ok.any() else -1
    return _point(counts, j, tp, fp)


def best_f1_threshold(state) -> OperatingPoint:
    """The threshold maximising pixel F1 = 2 TP / (TP + FP + P); ties: the highest threshold."""
    counts = _counts(state)
    tp, _, _, fp = counts.cumulative()
    f1 = 2 * tp / (tp + fp + counts.num_positive)
    j = f1.size - 1 - int(np.argmax(f1[::-1]))
    return _point(counts, j, tp, fp)
