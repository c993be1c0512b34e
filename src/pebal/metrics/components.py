"""Component-level metrics of SegmentMeIfYouCan (sIoU, PPV, component F1).

The rules of the benchmark's ``metrics/instance_segmentation.py`` (``default_instancer`` and
``segment_metrics``; version in :data:`pebal.metrics.binned.SMIYC_VERSION`), per (H, W) image:

* prediction ``score > threshold`` (``strict=True``, the benchmark) or ``score >= threshold``
  (``strict=False``, pebal's exact thresholds), never on void pixels; the threshold is first
  cast to the score dtype, as numpy 1.23 does when it compares a float16 / float32 map with a
  float64 scalar (a float16 map is compared at float16 precision);
* connected components with 8-connectivity (``scipy.ndimage.label``) of the ground truth
  (label 1) and of the prediction;
* predicted components smaller than ``min_pred_size`` pixels are dropped;
* ground-truth components smaller than ``min_gt_size`` become void; the benchmark applies the
  same size test to the background (component 0: every pixel not labelled 1, void included),
  so on an image with fewer than ``min_gt_size`` such pixels only the anomaly components stay
  in the region of interest (ROI). All sizes below are counted inside the ROI;
* for each ground-truth component k, with K^ the union of the predicted components that
  intersect k and A(k) the pixels of the other ground-truth components,
  ``sIoU(k) = |k ∩ K^| / |(k ∪ K^) \\ A(k)|``;
* for each predicted component k^ with pixels in the ROI, with K the union of the ground-truth
  components it touches, ``PPV(k^) = |k^ ∩ K| / |k^|`` (and its own sIoU, symmetric);
* for tau in ``np.linspace(0.25, 0.75, 11)``: TP = #gt components with sIoU >= tau, FN = the
  others, FP = #predicted components with PPV < tau, summed over all images;
  ``F1(tau) = 2TP / (2TP + FN + FP)``; **mean F1** is the mean over the 11 values of tau;
  ``siou_gt`` / ``ppv`` / ``siou_pred`` are means over all components of all images.

Tracks: RoadAnomaly21 (``"anomaly"``): min_gt_size 100, min_pred_size 500; RoadObstacle21
(``"obstacle"``): 10 and 50.

SMIYC's numbers in one call: :func:`smiyc_component_metrics` (threshold = the binned best-F1
threshold of :mod:`pebal.metrics.binned` on the same data, strict ``>``). :func:`component_metrics`
with ``threshold=None`` takes pebal's exact best-F1 threshold instead (``>=``).

Undefined values (the benchmark divides by zero there):

* no ground-truth component of the minimum size in the data: :class:`NoComponentsError`
  (the benchmark gives NaN sIoU, and F1 0 or a ZeroDivisionError);
* no predicted component: ``ppv`` and ``siou_pred`` are None (the benchmark: NaN); F1 is
  defined (0 at every tau, since no gt component is hit).

Per-component values: :meth:`ComponentMetrics.components` (or ``per_component=True``) gives one
:class:`ComponentRecord` per component (image, kind "gt" / "pred", id, size, sIoU, PPV).

Everything per image is vectorised: after the two labellings, one ``np.unique`` over the
(gt id, pred id) pairs of the labelled pixels gives the contingency counts n[g, p], and every
quantity above is a sum of those counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ComponentRecord:
    """One connected component: ``image`` (index since reset), ``kind`` ("gt" or "pred"),
    ``component`` (its ``scipy.ndimage.label`` id in that image), ``size`` (pixels in the ROI),
    ``siou`` (adjusted IoU) and, for predicted components, ``ppv`` (None for "gt")."""

    image: int
    kind: str
    component: int
    size: int
    siou: float
    ppv: float | None


def cast_threshold(threshold: float, dtype: np.dtype):
    """``threshold`` in the score dtype (out of range: +-inf, which compares the same way)."""
    with np.errstate(over="ignore"):
        return np.asarray(threshold, dtype=np.float64).astype(dtype)[()]


def image_components(score: np.ndarray, label: np.ndarray, threshold: float, min_gt_size: int, min_pred_size: int,
                     ignore_index: int = IGNORE_INDEX, strict: bool = False) -> dict:
    """Per-component values of one (H, W) image (see the module docstring), float64 / int64
    arrays: ``siou_gt``, ``gt_ids``, ``gt_sizes`` (one per gt component), ``ppv``, ``siou_pred``,
    ``pred_ids``, ``pred_sizes`` (one per predicted component with pixels in the ROI)."""
    valid = label != ignore_index
    t = cast_threshold(threshold, score.dtype)
    pred = (score > t) if strict else (score >= t)
    pred &= valid
    gl, ng = ndimage.label(label == ANOMALY, structure=_EIGHT)
    pl, npred = ndimage.label(pred, structure=_EIGHT)
    # drop small predicted components (sizes before the ROI loses small gt components)
    keep = np.bincount(pl.ravel(), minlength=npred + 1) >= min_pred_size
    keep[0] = False
    kept_ids = np.flatnonzero(keep)
    remap = np.zeros(npred + 1, np.int64)
    remap[keep] = np.arange(1, kept_ids.size + 1)
    npk = kept_ids.size
    # the benchmark's size test also runs over component 0 (the background)
    small_gt = np.bincount(gl.ravel(), minlength=ng + 1) < min_gt_size
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
    return {"siou_gt": siou_gt.astype(np.float64), "gt_ids": gts.astype(np.int64),
            "gt_sizes": size_g[gts].astype(np.int64),
            "ppv": ppv.astype(np.float64), "siou_pred": siou_pred.astype(np.float64),
            "pred_ids": kept_ids[preds - 1].astype(np.int64), "pred_sizes": size_p[preds].astype(np.int64)}


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
        """Add (N, H, W) or (H, W) maps (kept in their dtype: float16 maps compare at float16)."""
        s, lab = as_batch(scores, labels, keep_dtype=True, flat=False)
        new = []
        for i in range(s.shape[0]):
            where = image_name(i, self.num_images)
            check_labels(lab[i], self.ignore_index, where)
            check_finite(s[i], lab[i], self.ignore_index, where)
            part = image_components(s[i], lab[i], self.threshold, self.min_gt_size, self.min_pred_size,
                                    self.ignore_index, self.strict)
            part["image"] = self.num_images + i
            new.append(part)
        self.parts.extend(new)
        self.num_images += s.shape[0]

    def components(self, sync: bool | None = None, group=None) -> list[ComponentRecord]:
        """Every component seen, as :class:`ComponentRecord` (gt components of an image first,
        then its predicted ones; images in update order, or rank order when synchronised)."""
        return component_records(self._gathered(sync, group))

    def _gathered(self, sync: bool | None, group) -> list[dict]:
        from pebal.metrics import distributed

        if sync is None:
            sync = distributed.is_distributed()
        if sync:
            return [d for chunk in distributed.all_gather_objects(self.parts, group) for d in chunk]
        return self.parts

    def merge(self, other: ComponentMetrics) -> ComponentMetrics:
        mine = (self.threshold, self.min_gt_size, self.min_pred_size, self.strict)
        theirs = (other.threshold, other.min_gt_size, other.min_pred_size, other.strict)
        if mine != theirs:
            raise ValueError(f"cannot merge component metrics with settings {theirs} into {mine}")
        self.parts.extend(other.parts)
        self.num_images += other.num_images
        return self

    def compute(self, sync: bool | None = None, group=None, per_component: bool = False) -> dict:
        """The data-set values of :func:`aggregate_components` plus ``threshold`` and ``strict``
        (and ``components``, the list of :class:`ComponentRecord`, with ``per_component``)."""
        parts = self._gathered(sync, group)
        result = aggregate_components(parts)
        result["threshold"] = self.threshold
        result["strict"] = self.strict
        if per_component:
            result["components"] = component_records(parts)
        return result


def component_records(parts: list[dict]) -> list[ComponentRecord]:
    """:class:`ComponentRecord` list from per-image :func:`image_components` results."""
    out = []
    for d in parts:
        image = int(d.get("image", -1))
        for cid, size, siou in zip(d["gt_ids"], d["gt_sizes"], d["siou_gt"]):
            out.append(ComponentRecord(image, "gt", int(cid), int(size), float(siou), None))
        for cid, size, siou, ppv in zip(d["pred_ids"], d["pred_sizes"], d["siou_pred"], d["ppv"]):
            out.append(ComponentRecord(image, "pred", int(cid), int(size), float(siou), float(ppv)))
    return out


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
                      ignore_index: int = IGNORE_INDEX, strict: bool = False, per_component: bool = False) -> dict:
    """Component metrics of (N, H, W) / (H, W) maps at ``threshold``; ``threshold=None`` takes
    pebal's exact best-pixel-F1 threshold of the same data (use it with ``strict=False``; for
    SMIYC's own rule see :func:`smiyc_component_metrics`). Returns the dict of
    :func:`aggregate_components` plus ``threshold``, ``strict`` (and ``components``)."""
    s, lab = as_batch(scores, labels, keep_dtype=True, flat=False)
    if threshold is None:
        from pebal.metrics.operating import best_f1_threshold
        from pebal.metrics.pixel import counts_from_arrays

        threshold = best_f1_threshold(counts_from_arrays(s, lab, ignore_index)).threshold
    m = ComponentMetrics(threshold, track, min_gt_size, min_pred_size, ignore_index, strict)
    m.update(s, lab)
    return m.compute(sync=False, per_component=per_component)


def smiyc_component_metrics(scores, labels, track: str = "anomaly", num_bins: int = 768,
                            ignore_index: int = IGNORE_INDEX, per_component: bool = False) -> dict:
    """SegmentMeIfYouCan's component numbers in one call, as its benchmark computes them.

    The threshold is the best-F1 threshold of the binned pixel metrics
    (:mod:`pebal.metrics.binned`, ``num_bins`` per frame) on the same maps, and a pixel is
    predicted when ``score > threshold`` (strict). Pass the maps in the dtype the benchmark reads
    (float16, as the score export writes them) to reproduce its numbers.

    Args:
        scores: (N, H, W) or (H, W) maps; labels: 0 / 1 / ``ignore_index``.
        track: "anomaly" (RoadAnomaly21) or "obstacle" (RoadObstacle21).
    Returns:
        the dict of :func:`aggregate_components` with ``threshold``, ``strict`` (True),
        ``pixel`` (the binned pixel metrics the threshold came from) and, with ``per_component``,
        ``components``. Raises :class:`NoComponentsError` without a gt component.
    """
    from pebal.metrics.binned import SmiycBinned

    s, lab = as_batch(scores, labels, keep_dtype=True, flat=False)
    binned = SmiycBinned(num_bins=num_bins, ignore_index=ignore_index)
    binned.update(s, lab)
    pixel = binned.compute(sync=False)
    m = ComponentMetrics(pixel["best_f1_threshold"], track, ignore_index=ignore_index, strict=True)
    m.update(s, lab)
    result = m.compute(sync=False, per_component=per_component)
    result["pixel"] = pixel
    return result
