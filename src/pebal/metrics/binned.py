"""SegmentMeIfYouCan's binned pixel metrics ("PixBinaryClass"), for matching that leaderboard.

What this mode computes, step by step (the benchmark's definition, re-implemented from its
description; the exact mode of :mod:`pebal.metrics.pixel` is the default and should be
preferred everywhere else):

Per frame (one (H, W) map), on the evaluated pixels, with scores in their own dtype:

1. bin edges = the distinct values of {0, 1} together with ``np.quantile`` (linear
   interpolation) of the anomaly scores at ``min(num_bins // 2, P_frame)`` evenly spaced levels
   in [0, 1] and the same for the inlier scores; 768 bins gives up to 384 + 384 + 2 edges;
2. ``np.histogram`` of the anomaly scores and of the inlier scores over these edges
   (half-open bins, the last one closed); each bin's threshold is its lower edge.

The state is these (<= num_bins + 2 thresholds, two count arrays) per frame: O(bins) per frame.
Over the data set, all frames' bins are sorted by decreasing threshold and accumulated (TP, FP
at each step); where several consecutive steps share a threshold, only the last is kept (and
always the first step); (0, 0) is prepended and (P, N) appended when missing. Then, on those
points: AUROC = trapezoidal area of (FPR, TPR); AP = sum(diff(recall) * precision[1:]) with
precision 1 where nothing is predicted; FPR95 = the FPR at the first point with TPR >= 0.95
(``searchsorted``); best F1 = max of 2TP / (2TP + FP + FN). The reported thresholds are read, as
in the benchmark's code, at the same index of the *sorted, uncollapsed* threshold list (so they
are offset when thresholds repeat or (0, 0) was prepended); SMIYC's component metrics use that
best-F1 threshold.

One deliberate difference: the benchmark sorts the steps with an unstable sort, so the order of
steps sharing a threshold (which only matters for the always-kept first step) depends on the
platform; here ties are ordered by (TP count, FP count), descending, which makes the result a
function of the set of frames (merges and process splits give bit-for-bit equal numbers).
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import as_batch, iter_evaluated

_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


def frame_bins(pos: np.ndarray, neg: np.ndarray, num_bins: int = 768) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending (K,), anomaly counts (K,), inlier counts (K,)) of one frame."""
    parts = [np.array([0.0, 1.0])]
    if pos.size:
        parts.append(np.quantile(pos, np.linspace(0, 1, min(num_bins // 2, pos.size))))
    if neg.size:
        parts.append(np.quantile(neg, np.linspace(0, 1, min(num_bins // 2, neg.size))))
    edges = np.unique(np.concatenate(parts))
    tp_rel, _ = np.histogram(pos, bins=edges)
    fp_rel, _ = np.histogram(neg, bins=edges)
    return edges[::-1][1:].astype(np.float64), tp_rel[::-1].astype(np.int64), fp_rel[::-1].astype(np.int64)


class SmiycBinned:
    """Per-frame percentile bins (see the module docstring); ``update`` / ``merge`` /
    ``compute`` like :class:`~pebal.metrics.state.AnomalyMetrics`."""

    def __init__(self, num_bins: int = 768, ignore_index: int = IGNORE_INDEX):
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        self.num_bins = num_bins
        self.ignore_index = ignore_index
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.num_positive = 0
        self.num_negative = 0

    @property
    def num_images(self) -> int:
        return len(self.frames)

    def update(self, scores, labels, first_image: int = 0) -> None:
        s, lab = as_batch(scores, labels, keep_dtype=True)
        new = []
        for _, pos, neg in iter_evaluated(s, lab, self.ignore_index, first_image=first_image, chunk=None):
            new.append(frame_bins(pos, neg, self.num_bins))
        for thr, tp, fp in new:
            self.frames.append((thr, tp, fp))
            self.num_positive += int(tp.sum())
            self.num_negative += int(fp.sum())

    def merge(self, other: SmiycBinned) -> SmiycBinned:
        if other.num_bins != self.num_bins:
            raise ValueError(f"cannot merge num_bins={other.num_bins} into num_bins={self.num_bins}")
        self.frames.extend(other.frames)
        self.num_positive += other.num_positive
        self.num_negative += other.num_negative
        return self

    def compute(self, sync: bool | None = None, group=None) -> dict:
        frames = self.frames
        from pebal.metrics import distributed

        if sync is None:
            sync = distributed.is_distributed()
        if sync:
            frames = [f for part in distributed.all_gather_objects(self.frames, group) for f in part]
        return binned_metrics(frames)


def binned_metrics(frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """The SMIYC aggregate over frames from :func:`frame_bins`."""
    p = int(sum(int(tp.sum()) for _, tp, _ in frames))
    n = int(sum(int(fp.sum()) for _, _, fp in frames))
    if p == 0 or n == 0:
        raise MissingClassError(p, n)
    thr = np.concatenate([f[0] for f in frames])
    tp_rel = np.concatenate([f[1] for f in frames])
    fp_rel = np.concatenate([f[2] for f in frames])
    order = np.lexsort((fp_rel, tp_rel, thr))[::-1]
    thr = thr[order]
    tp = np.cumsum(tp_rel[order].astype(np.float64))
    fp = np.cumsum(fp_rel[order].astype(np.float64))
    last = np.concatenate([[0], np.nonzero(thr[:-1] != thr[1:])[0], [thr.size - 1]])
    tp, fp = tp[last], fp[last]
    if tp[0] != 0 or fp[0] != 0:
        tp, fp = np.concatenate([[0.0], tp]), np.concatenate([[0.0], fp])
    if tp[-1] != p or fp[-1] != n:
        tp, fp = np.concatenate([tp, [p]]), np.concatenate([fp, [n]])
    fn = p - tp
    tpr, fpr = tp / p, fp / n
    predicted = tp + fp
    precision = np.ones_like(tp)
    precision[predicted > 0] = tp[predicted > 0] / predicted[predicted > 0]
    f1 = 2 * tp / (2 * tp + fp + fn)
    i95 = int(np.searchsorted(tpr, 0.95))
    i_f1 = int(np.nanargmax(f1))
    return {
        "auroc": float(_trapezoid(tpr, fpr)),
        "ap": float(np.sum(np.diff(tpr) * precision[1:])),
        "fpr95": float(fpr[i95]),
        "fpr95_threshold": float(thr[min(i95, thr.size - 1)]),
        "best_f1": float(f1[i_f1]),
        "best_f1_threshold": float(thr[min(i_f1, thr.size - 1)]),
        "num_positive": p,
        "num_negative": n,
        "mode": "smiyc",
    }
