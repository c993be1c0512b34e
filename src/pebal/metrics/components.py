"""Component-level metrics of SegmentMeIfYouCan (sIoU, PPV, component F1).

On a binary prediction (``score >= threshold``, or ``>`` with ``strict=True`` as the benchmark
does with its binned thresholds; void pixels are never predicted), connected components with
8-connectivity (``scipy.ndimage.label``), one labelling of the ground truth and one of the
prediction per image:

* predicted components smaller than ``min_pred_size`` pixels are dropped;
* ground-truth components smaller than ``min_gt_size`` become void (the region of interest,
  ROI, is the non-void pixels after that); all sizes below are counted inside the ROI;
* for each ground-truth component k, with K^ the union of the predicted components that
  intersect k and A(k) the pixels of the other ground-truth components,
  ``sIoU(k) = |k ∩ K^| / |(k ∪ K^) \\ A(k)|``;
* for each predicted component k^, with K the union of the ground-truth components it touches,
  ``PPV(k^) = |k^ ∩ K| / |k^|`` (and its own sIoU, symmetric to the above);
* for tau in {0.25, 0.30, ..., 0.75}: TP = #gt components with sIoU >= tau, FN = the others,
  FP = #predicted components with PPV < tau, ``F1(tau) = 2TP / (2TP + FN + FP)``, summed over
  all images; **mean F1** is the mean over the 11 values of tau.

Tracks: RoadAnomaly21 (``"anomaly"``): min_gt_size 100, min_pred_size 500; RoadObstacle21
(``"obstacle"``): 10 and 50. The threshold, when not given, is the one maximising pixel F1 on
the same data (exact, :func:`pebal.metrics.operating.best_f1_threshold`).

Everything per image is vectorised: after the two labellings, one ``np.unique`` over the
(gt id, pred id) pairs of the labelled pixels gives the contingency counts n[g, p], and every
quantity above is a sum of those counts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from pebal.labels import ANOMALY, IGNORE_INDEX
from pebal.metrics.errors import NoComponentsError
from pebal.metrics.inputs import as_batch, check_finite, check_labels, image_name

#: (min_gt_size, min_pred_size) per SMIYC track.
TRACKS = {"anomaly": (100, 500), "obstacle": (10, 50)}
#: The benchmark's sIoU / PPV thresholds: np.linspace(0.25, 0.75, 11).
SIOU_THRESHOLDS = np.linspace(0.25, 0.75, 11)
_EIGHT = np.ones((3, 3), dtype=bool)


def image_components(score: np.ndarray, label: np.ndarray, threshold: float, min_gt_size: int, min_pred_size: int,
                     ignore_index: int = IGNORE_INDEX, strict: bool = False) -> dict:
    """Per-component values of one (H, W) image: ``siou_gt`` (one per gt component),
    ``ppv`` and ``siou_pred`` (one per predicted component), float64 arrays."""
    valid = label != ignore_index
    pred = (score > threshold) if strict else (score >= threshold)
    pred &= valid
    gl, ng = ndimage.label(label == ANOMALY, structure=_EIGHT)
    pl, npred = ndimage.label(pred, structure=_EIGHT)
    # drop small predicted components (sizes before the ROI loses small gt components)
    keep = np.bincount(pl.ravel(), minlength=npred + 1) >= min_pred_size
    keep[0] = False
    remap = np.zeros(npred + 1, np.int64)
    remap[keep] = np.arange(1, int(keep.sum()) + 1)
    npk = int(keep.sum())
    small_gt = np.bincount(gl.ravel(), minlength=ng + 1) < min_gt_size
    small_gt[0] = False
    roi = valid & ~small_gt[gl]
    g = gl[roi].astype(np.int64)
    p = remap[pl[roi]]
    size_g = np.bincount(g, minlength=ng + 1)
    size_p = np.bincount(p, minlength=npk + 1)
    labelled = (g > 0) | (p > 0)
    pair, n = np.unique(g[labelled] * (npk + 1) + p[labelled], return_counts=True)
    gi, pi = pair // (npk + 1), pair % (npk + 1)
    gt_only = np.bincount(gi[pi == 0], weights=n[pi == 0], minlength=ng + 1)  # n[g, 0]
    pred_only = np.bincount(pi[gi == 0], weights=n[gi == 0], minlength=npk + 1)  # n[0, p]
    e = (gi > 0) & (pi > 0)
    eg, ep, en = gi[e], pi[e], n[e]

    gts = np.flatnonzero(size_g > 0)
    gts = gts[gts > 0]
    inter_g = size_g - gt_only
    khat = np.bincount(eg, weights=size_p[ep], minlength=ng + 1)
    adj_g = np.bincount(eg, weights=size_p[ep] - pred_only[ep] - en, minlength=ng + 1)
    siou_gt = inter_g[gts] / (khat[gts] + size_g[gts] - inter_g[gts] - adj_g[gts])

    preds = np.flatnonzero(size_p > 0)
    preds = preds[preds > 0]
    inter_p = size_p - pred_only
    kk = np.bincount(ep, weights=size_g[eg], minlength=npk + 1)
    adj_p = np.bincount(ep, weights=size_g[eg] - gt_only[eg] - en, minlength=npk + 1)
    siou_pred = inter_p[preds] / (kk[preds] + size_p[preds] - inter_p[preds] - adj_p[preds])
    ppv = inter_p[preds] / size_p[preds]
    return {"siou_gt": siou_gt.astype(np.float64), "ppv": ppv.astype(np.float64),
            "siou_pred": siou_pred.astype(np.float64)}


def _sizes(track: str | None, min_gt_size: int | None, min_pred_size: int | None) -> tuple[int, int]:
    if track is not None and track not in TRACKS:
        raise ValueError(f"unknown track {track!r}; valid: {', '.join(TRACKS)} (or give both sizes)")
    gt_default, pred_default = TRACKS[track] if track is not None else (None, None)
    gt = min_gt_size if min_gt_size is not None else gt_default
    pred = min_pred_size if min_pred_size is not None else pred_default
    if gt is None or pred is None:
        raise ValueError("give a track or both min_gt_size and min_pred_size")
    return int(gt), int(pred)


class ComponentMetrics:
    """Streaming component metrics at a fixed ``threshold`` (see the module docstring).

    ``update(scores, labels)`` per image or batch; ``merge``; ``compute(sync=None)`` (combines
    all ``torch.distributed`` processes when initialised; bit-for-bit equal to one process,
    since counts add and means use exactly rounded sums).
    """

    def __init__(self, threshold: float, track: str | None = "anomaly", min_gt_size: int | None = None,
                 min_pred_size: int | None = None, ignore_index: int = IGNORE_INDEX, strict: bool = False):
        self.threshold = float(threshold)
        self.min_gt_size, self.min_pred_size = _sizes(track, min_gt_size, min_pred_size)
        self.ignore_index = ignore_index
        self.strict = strict
        self.reset()

    def reset(self) -> None:
        self.num_images = 0
        self.parts: list[dict] = []

    def update(self, scores, labels) -> None:
        s, lab = as_batch(scores, labels, flat=False)
        new = []
        for i in range(s.shape[0]):
            where = image_name(i, self.num_images)
            check_labels(lab[i], self.ignore_index, where)
            check_finite(s[i], lab[i], self.ignore_index, where)
            new.append(image_components(s[i], lab[i], self.threshold, self.min_gt_size, self.min_pred_size,
                                        self.ignore_index, self.strict))
        self.parts.extend(new)
        self.num_images += s.shape[0]

    def merge(self, other: ComponentMetrics) -> ComponentMetrics:
        mine = (self.threshold, self.min_gt_size, self.min_pred_size, self.strict)
        theirs = (other.threshold, other.min_gt_size, other.min_pred_size, other.strict)
        if mine != theirs:
            raise ValueError(f"cannot merge component metrics with settings {theirs} into {mine}")
        self.parts.extend(other.parts)
        self.num_images += other.num_images
        return self

    def compute(self, sync: bool | None = None, group=None) -> dict:
        parts = self.parts
        from pebal.metrics import distributed

        if sync is None:
            sync = distributed.is_distributed()
        if sync:
            parts = [d for chunk in distributed.all_gather_objects(self.parts, group) for d in chunk]
        result = aggregate_components(parts)
        result["threshold"] = self.threshold
        return result


def aggregate_components(parts: list[dict]) -> dict:
    """Data-set values from per-image :func:`image_components` results."""
    siou_gt = np.concatenate([d["siou_gt"] for d in parts]) if parts else np.zeros(0)
    ppv = np.concatenate([d["ppv"] for d in parts]) if parts else np.zeros(0)
    siou_pred = np.concatenate([d["siou_pred"] for d in parts]) if parts else np.zeros(0)
    if siou_gt.size == 0:
        raise NoComponentsError(
            f"no ground-truth anomaly component of the minimum size in {len(parts)} image(s): "
            "sIoU, PPV and component F1 are undefined"
        )
    f1 = {}
    tp_sum = fn_sum = fp_sum = 0
    for tau in SIOU_THRESHOLDS:
        tp = int(np.count_nonzero(siou_gt >= tau))
        fn = siou_gt.size - tp
        fp = int(np.count_nonzero(ppv < tau))
        f1[round(float(tau), 2)] = 2 * tp / (2 * tp + fn + fp)
        tp_sum, fn_sum, fp_sum = tp_sum + tp, fn_sum + fn, fp_sum + fp
    k = SIOU_THRESHOLDS.size
    return {
        "siou_gt": math.fsum(siou_gt) / siou_gt.size,
        # None, not NaN, when nothing was predicted: PPV is undefined, F1 still is not
        "ppv": math.fsum(ppv) / ppv.size if ppv.size else None,
        "siou_pred": math.fsum(siou_pred) / siou_pred.size if siou_pred.size else None,
        "f1_mean": math.fsum(f1.values()) / k,
        "f1": f1,
        "f1_25": f1[0.25],
        "f1_50": f1[0.5],
        "f1_75": f1[0.75],
        "tp_mean": tp_sum / k,
        "fn_mean": fn_sum / k,
        "fp_mean": fp_sum / k,
        "num_gt_components": int(siou_gt.size),
        "num_pred_components": int(ppv.size),
    }


def component_metrics(scores, labels, threshold: float | None = None, track: str | None = "anomaly",
                      min_gt_size: int | None = None, min_pred_size: int | None = None,
                      ignore_index: int = IGNORE_INDEX, strict: bool = False) -> dict:
    """Component metrics of (N, H, W) / (H, W) maps; ``threshold=None`` takes the exact
    best-pixel-F1 threshold of the same data. Returns the dict of :func:`aggregate_components`
    plus ``threshold``."""
    s, lab = as_batch(scores, labels, flat=False)
    if threshold is None:
        from pebal.metrics.operating import best_f1_threshold
        from pebal.metrics.pixel import counts_from_arrays

        threshold = best_f1_threshold(counts_from_arrays(s, lab, ignore_index)).threshold
    m = ComponentMetrics(threshold, track, min_gt_size, min_pred_size, ignore_index, strict)
    m.update(s, lab)
    return m.compute(sync=False)
