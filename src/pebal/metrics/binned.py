"""SegmentMeIfYouCan's binned pixel metrics ("PixBinaryClass"), for matching that leaderboard.

Matched version: ``SegmentMeIfYouCan/road-anomaly-benchmark`` at commit ``1c7804e`` (2023-08-24,
"metrics: fix best-f1 threshold selection"; files ``metrics/pixel_classification.py`` and
``metrics/pixel_classification_curves.py``), run with the numpy its requirements pin (1.23.3).
Re-implemented from that code's rules (no code copied); every step below is what it does.

Per frame (one (H, W) map; ROI = label < 255), on the ROI scores in their own dtype (the benchmark
reads float16 maps, so pass float16 to reproduce it):

1. ``vmin, vmax`` = min / max of all ROI scores; ``vrange = vmax - vmin`` in the score dtype;
   ``eps = max(float64(vrange) * 0.01, 0.01)`` (numpy 1.23 turns a scalar times a Python float into
   float64); outer edges ``vmin - eps`` and ``vmax + eps`` (float64);
2. inner edges = ``np.quantile`` (method "linear") of the anomaly scores at
   ``min(num_bins // 2, P_frame)`` evenly spaced levels, and the same for the inlier scores, as
   numpy 1.23 computes it (float64 result; the difference of the two neighbours is taken in the
   score dtype): :func:`linear_quantiles`;
3. edges = sorted distinct values of all of these; ``np.histogram`` of the anomaly and of the
   inlier scores (bins ``[e_k, e_{k+1})``, the last one closed; comparisons in float64); each bin's
   threshold is its lower edge.

The state is these (<= num_bins + 2 thresholds, two count arrays) per frame: O(bins) per frame.

Over the data set: all frames' bins sorted by decreasing threshold and accumulated (TP, FP, in
float64); of each run of equal thresholds only the last step is kept, and always the first step
(``[0] + where(thr[i] != thr[i+1]) + [last]``); the thresholds are kept at the same indices
(the 2023-08-24 fix: before it, the reported thresholds were read from the uncollapsed list).
When the first point is not (0, 0), (0, 0) is prepended with threshold ``max + 1``; when the last
is not (P, N), (P, N) is appended with threshold ``max - 1``. Then:

* AUROC = ``trapz(TPR, FPR)`` = ``sum(diff(FPR) * (TPR[1:] + TPR[:-1]) / 2)``;
* AP = ``sum(diff(recall) * precision[1:])``, precision 1 where nothing is predicted;
* FPR95 = FPR at ``searchsorted(TPR, 0.95)`` (the first point with TPR >= 0.95), threshold the
  one at that index (FPR 1.0, threshold 0.0 if never reached);
* best F1 = ``max 2TP / (2TP + FP + FN)`` (first maximum), threshold the one at that index. The
  benchmark's component metrics (:func:`pebal.metrics.components.smiyc_component_metrics`) take
  this threshold with a strict ``score > threshold``.

One point the benchmark leaves open: the order of steps that share a threshold. It sorts with
numpy's default (unstable) argsort over frames gathered from an unordered process pool, and only
the first step's position depends on it (when several frames share the top threshold, e.g.
saturated or binary maps). Here ties are ordered by (TP count, FP count), descending, so the
result is a function of the set of frames (merges and process splits give bit-for-bit equal
numbers) and equals the benchmark's for that order of the tied frames.

A frame with no ROI pixel is skipped (the benchmark fails on it: ``np.min`` of nothing).
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import as_batch, iter_evaluated

#: The benchmark version matched (repository and commit).
SMIYC_VERSION = "SegmentMeIfYouCan/road-anomaly-benchmark@1c7804e0749686452eb02bbcfb81234e38795f8a"


def linear_levels(m: int) -> np.ndarray:
    """``np.linspace(0, 1, m)`` as numpy 1.23 computes it: ``arange(m) * (1 / (m - 1))``, last = 1."""
    if m == 1:
        return np.zeros(1)
    y = np.arange(m, dtype=np.float64) * (1.0 / (m - 1))
    y[-1] = 1.0
    return y


def linear_quantiles(sorted_values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """numpy 1.23's ``np.quantile(v, levels)`` (method "linear") of ascending ``sorted_values``.

    ``i = (n - 1) * q``, ``a = v[floor i]``, ``b = v[floor i + 1]`` (both ``v[n-1]`` at the top),
    ``g = i - floor i``, ``d = b - a`` in the values' dtype; result (float64) ``a + d g``, or
    ``b - d (1 - g)`` where ``g >= 0.5``.
    """
    n = sorted_values.size
    virtual = (n - 1) * levels
    prev = np.floor(virtual)
    top = virtual >= n - 1
    gamma = virtual - np.where(top, -1.0, prev)  # numpy indexes the top with -1; a == b there
    prev_i = np.where(top, n - 1, prev).astype(np.intp)
    next_i = np.where(top, n - 1, prev + 1).astype(np.intp)
    a, b = sorted_values[prev_i], sorted_values[next_i]
    diff = np.subtract(b, a).astype(np.float64)  # in the score dtype, as numpy 1.23
    out = a.astype(np.float64) + diff * gamma
    hi = gamma >= 0.5
    out[hi] = b[hi].astype(np.float64) - diff[hi] * (1.0 - gamma[hi])
    return out


def frame_edges(pos: np.ndarray, neg: np.ndarray, num_bins: int = 768) -> np.ndarray:
    """The benchmark's bin edges of one frame (ascending, distinct, float64); steps 1-2 above.

    ``pos`` / ``neg`` are the anomaly / inlier ROI scores, sorted ascending, one dtype.
    """
    lo = min(pos[0] if pos.size else neg[0], neg[0] if neg.size else pos[0])
    hi = max(pos[-1] if pos.size else neg[-1], neg[-1] if neg.size else pos[-1])
    vrange = np.subtract(hi, lo)  # in the score dtype (float16 maps: rounded to float16)
    eps = max(float(vrange) * 1e-2, 1e-2)
    parts = [np.array([float(lo) - eps, float(hi) + eps])]
    for v in (pos, neg):
        if v.size:
            parts.append(linear_quantiles(v, linear_levels(min(num_bins // 2, v.size))))
    return np.unique(np.concatenate(parts))


def frame_bins(pos: np.ndarray, neg: np.ndarray, num_bins: int = 768) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending (K,) float64, anomaly counts (K,), inlier counts (K,)) of one frame.

    ``pos`` / ``neg``: 1-D anomaly / inlier ROI scores of the frame (any order, one dtype).
    """
    pos, neg = np.sort(pos), np.sort(neg)
    edges = frame_edges(pos, neg, num_bins)
    counts = []
    for v in (pos, neg):
        # np.histogram on explicit edges: [e_k, e_k+1), the last bin closed; exact in float64
        v64 = v.astype(np.float64)
        at = np.searchsorted(v64, edges, side="left")
        at[-1] = np.searchsorted(v64, edges[-1], side="right")
        counts.append(np.diff(at).astype(np.int64))
    return edges[:-1][::-1].copy(), counts[0][::-1].copy(), counts[1][::-1].copy()


class SmiycBinned:
    """Per-frame percentile bins (see the module docstring); ``update`` / ``merge`` /
    ``compute`` like :class:`~pebal.metrics.state.AnomalyMetrics`."""

    def __init__(self, num_bins: int = 768, ignore_index: int = IGNORE_INDEX):
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        self.num_bins = num_bins
        self.ignore_index = ignore_index
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.num_images = 0
        self.num_positive = 0
        self.num_negative = 0

    def update(self, scores, labels, first_image: int = 0) -> None:
        s, lab = as_batch(scores, labels, keep_dtype=True)
        new = []
        for _, pos, neg in iter_evaluated(s, lab, self.ignore_index, first_image=first_image, chunk=None):
            if pos.size or neg.size:
                new.append(frame_bins(pos, neg, self.num_bins))
        for thr, tp, fp in new:
            self.frames.append((thr, tp, fp))
            self.num_positive += int(tp.sum())
            self.num_negative += int(fp.sum())
        self.num_images += s.shape[0]

    def merge(self, other: SmiycBinned) -> SmiycBinned:
        if other.num_bins != self.num_bins:
            raise ValueError(f"cannot merge num_bins={other.num_bins} into num_bins={self.num_bins}")
        self.frames.extend(other.frames)
        self.num_images += other.num_images
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
    """The SMIYC aggregate over frames from :func:`frame_bins` (see the module docstring)."""
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
    keep = np.concatenate([[0], np.nonzero(thr[:-1] != thr[1:])[0], [thr.size - 1]])
    tp, fp, thr = tp[keep], fp[keep], thr[keep]
    if tp[0] != 0 or fp[0] != 0:
        tp, fp = np.concatenate([[0.0], tp]), np.concatenate([[0.0], fp])
        thr = np.concatenate([[float(np.max(thr)) + 1], thr])
    if tp[-1] != p or fp[-1] != n:
        tp, fp = np.concatenate([tp, [float(p)]]), np.concatenate([fp, [float(n)]])
        thr = np.concatenate([thr, [float(np.max(thr)) - 1]])
    fn, tn = p - tp, n - fp
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    predicted = tp + fp
    precision = np.ones_like(tp)
    precision[predicted > 0] = tp[predicted > 0] / predicted[predicted > 0]
    f1 = 2 * tp / (2 * tp + fp + fn)
    i95 = int(np.searchsorted(tpr, 0.95))
    fpr95, thr95 = (float(fpr[i95]), float(thr[i95])) if i95 < tpr.size else (1.0, 0.0)
    i_f1 = int(np.nanargmax(f1))
    return {
        "auroc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)),
        "ap": float(np.sum(np.diff(tpr) * precision[1:])),
        "fpr95": fpr95,
        "fpr95_threshold": thr95,
        "best_f1": float(f1[i_f1]),
        "best_f1_threshold": float(thr[i_f1]),
        "num_positive": p,
        "num_negative": n,
        "mode": "smiyc",
        "smiyc_version": SMIYC_VERSION,
    }
