"""Exact pixel-level anomaly metrics: AUROC, AP, FPR95 (two rules), best pixel F1.

Pixels are pooled over all images (as LostAndFound, Fishyscapes and SegmentMeIfYouCan do);
anomaly = positive. With P anomaly and N inlier pixels, for each distinct anomaly score
``u_j`` (ascending) let ``c_j`` be its count, ``L_j`` / ``E_j`` the inliers scoring below /
equal, ``TP_j = sum_{i>=j} c_i`` and ``FP_j = N - L_j`` (pixels scoring >= u_j):

    AUROC = sum_j c_j (2 L_j + E_j) / (2 P N)         (trapezoidal ROC area, ties count 1/2)
    AP    = sum_j (c_j / P) * TP_j / (TP_j + FP_j)     (step sum, scikit-learn's definition)
    FPR95 = FP_j* / N,  j* = the highest threshold with TP_j / P >= 0.95
            (the first ROC point reaching 95% TPR; Fishyscapes, SMIYC)
    FPR95 (rule "reference") = the reference PEBAL code's rule (Hendrycks'
            ``fpr_and_fdr_at_recall``): among all distinct thresholds down to the lowest anomaly
            score, the one whose recall is closest to 0.95, ties to the lowest threshold; on a
            flat stretch that is the lowest score above u_{j-1}, so FP = N - L_{j-1} - E_{j-1}.
    best F1 = max_j 2 TP_j / (TP_j + FP_j + P)          (ties: the highest threshold)

All arithmetic on counts is integer; the final divisions are float64. These equal
scikit-learn's ``roc_auc_score``, ``average_precision_score`` and ``roc_curve(...,
drop_intermediate=False)`` to rounding (tested to 1e-9). A threshold ``t`` always means
"anomaly iff score >= t".
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX
from pebal.metrics import keys as K
from pebal.metrics.counts import NegativeBinner, PixelCounts, unique_counts
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import as_batch, iter_evaluated

FPR95_RULES = ("first", "reference")


def auroc(counts: PixelCounts) -> float:
    """Area under the ROC curve (Mann-Whitney statistic with ties counted 1/2)."""
    counts.require_both_classes("AUROC")
    p, n = counts.num_positive, counts.num_negative
    _, below, equal, _ = counts.cumulative()
    if 2 * p * n < 2**62:  # exact integer numerator
        num = int(np.dot(counts.positives, 2 * below + equal))
    else:
        num = float(np.dot(counts.positives.astype(np.float64), (2 * below + equal).astype(np.float64)))
    return num / (2 * p * n)


def average_precision(counts: PixelCounts) -> float:
    """Step-sum average precision, ``sum_k (R_k - R_{k-1}) P_k`` (not interpolated)."""
    counts.require_both_classes("AP")
    tp, _, _, fp = counts.cumulative()
    precision = tp / (tp + fp)
    return float(np.sum(counts.positives * precision) / counts.num_positive)


def fpr_at_tpr(counts: PixelCounts, tpr: float = 0.95, rule: str = "first") -> tuple[float, float | None]:
    """(FPR, threshold) at recall ``tpr`` under ``rule`` ("first" or "reference", see module doc).

    The threshold is ``u_j*`` for rule "first"; None for "reference" (its threshold is an inlier
    score that the exact counts do not keep).
    """
    counts.require_both_classes("FPR at TPR")
    if rule not in FPR95_RULES:
        raise ValueError(f"unknown FPR95 rule {rule!r}; valid: {', '.join(FPR95_RULES)}")
    if not 0.0 <= tpr <= 1.0:
        raise ValueError(f"tpr must be in [0, 1], got {tpr}")
    tp, below, equal, fp = counts.cumulative()
    p, n = counts.num_positive, counts.num_negative
    recall = tp / p
    if rule == "first":
        j = int(np.count_nonzero(recall >= tpr)) - 1  # recall falls with j: a prefix qualifies
        return float(fp[j] / n), float(counts.thresholds[j])
    dist = np.abs(recall - tpr)
    j = int(np.argmax(dist == dist.min()))  # ties: lowest threshold, as the reference code
    fp_j = n - int(below[0]) if j == 0 else n - int(below[j - 1] + equal[j - 1])
    return float(fp_j / n), None


def best_f1(counts: PixelCounts) -> tuple[float, float]:
    """(max pixel F1, its threshold); ties go to the highest threshold."""
    counts.require_both_classes("pixel F1")
    tp, _, _, fp = counts.cumulative()
    f1 = 2 * tp / (tp + fp + counts.num_positive)
    j = f1.size - 1 - int(np.argmax(f1[::-1]))
    return float(f1[j]), float(counts.thresholds[j])


def metrics_from_counts(counts: PixelCounts) -> dict:
    """Every exact pixel metric as a dict of Python scalars."""
    counts.require_both_classes()
    fpr95, thr95 = fpr_at_tpr(counts, 0.95, "first")
    fpr95_ref, _ = fpr_at_tpr(counts, 0.95, "reference")
    f1, thr_f1 = best_f1(counts)
    return {
        "auroc": auroc(counts),
        "ap": average_precision(counts),
        "fpr95": fpr95,
        "fpr95_threshold": thr95,
        "fpr95_reference": fpr95_ref,
        "best_f1": f1,
        "best_f1_threshold": thr_f1,
        "num_positive": counts.num_positive,
        "num_negative": counts.num_negative,
        "mode": "exact",
    }


def counts_from_arrays(scores, labels, ignore_index: int = IGNORE_INDEX) -> PixelCounts:
    """Exact :class:`PixelCounts` of (N, H, W) / (H, W) maps in two passes, holding only the
    anomaly scores and one chunk of pixels (the bounded-memory method of the spec).

    float32 scores (float16 widened) go through the compiled loops of
    :mod:`pebal.metrics.kernels`; float64 scores through numpy (same counts, slower)."""
    s, lab = as_batch(scores, labels)
    if s.dtype == np.float32:
        from pebal.metrics.fast import counts_float32

        counts = counts_float32(s, lab, ignore_index)
        if counts is not None:
            return counts
    bits = K.key_bits_for(s.dtype)
    pos_keys = []
    num_negative = 0
    for _, pos, _ in iter_evaluated(s, lab, ignore_index, negatives=False):
        pos_keys.append(K.to_keys(pos))
    u, c = unique_counts(pos_keys, bits)
    del pos_keys
    binner = NegativeBinner(u, bits)
    for _, _, neg in iter_evaluated(s, lab, ignore_index, validate=False, positives=False):
        binner.add(K.to_keys(neg))
        num_negative += neg.size
    if u.size == 0 or num_negative == 0:
        raise MissingClassError(int(c.sum()), num_negative)
    return PixelCounts(keys=u, positives=c, negatives=binner.finish(), bits=bits)


def pixel_metrics(scores, labels, ignore_index: int = IGNORE_INDEX, mode: str = "exact", num_bins: int = 768) -> dict:
    """Pixel metrics of score maps against labels, pooled over all pixels.

    Args:
        scores: (N, H, W) or (H, W) float array / tensor, higher = more anomalous.
        labels: same shape, 0 inlier / 1 anomaly / ``ignore_index`` void.
        mode: "exact" (default) or "smiyc" (SegmentMeIfYouCan's binned PixBinaryClass, see
            :mod:`pebal.metrics.binned`; each (H, W) map is one frame).
    Returns:
        dict with ``auroc``, ``ap``, ``fpr95``, ``fpr95_threshold``, ``best_f1``,
        ``best_f1_threshold``, ``num_positive``, ``num_negative``, ``mode`` and, in exact mode,
        ``fpr95_reference`` (the reference PEBAL rule).
    Raises:
        MetricInputError: bad input (the image is named). MissingClassError: no anomaly or no
        inlier pixel.
    """
    if mode == "exact":
        return metrics_from_counts(counts_from_arrays(scores, labels, ignore_index))
    if mode == "smiyc":
        from pebal.metrics.binned import SmiycBinned

        state = SmiycBinned(num_bins=num_bins, ignore_index=ignore_index)
        state.update(scores, labels)
        return state.compute()
    raise ValueError(f"unknown mode {mode!r}; valid: 'exact', 'smiyc'")
