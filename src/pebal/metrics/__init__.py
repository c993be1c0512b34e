"""Anomaly-segmentation metrics: exact pixel metrics, SMIYC binned and component metrics.

Pixel level (anomaly = positive, void = ignore_index, pixels pooled over images):

* :func:`pixel_metrics` (pure) and :class:`AnomalyMetrics` (``update`` / ``compute`` /
  ``reset`` / ``merge``, exact across ``torch.distributed`` processes): AUROC, AP, FPR95 (first
  ROC point with TPR >= 0.95; ``fpr95_reference`` the reference PEBAL rule), best pixel F1.
  Exact by default (scikit-learn's values; float32 maps through compiled one-pass loops,
  :mod:`.kernels`; the streaming state in bounded memory, :mod:`.store`); ``mode="smiyc"``
  reproduces SegmentMeIfYouCan's binned numbers (:mod:`.binned`, benchmark commit in
  :data:`SMIYC_VERSION`). Every result names its ``mode``.
* operating points: :func:`threshold_at_tpr`, :func:`threshold_at_fpr`, :func:`best_f1_threshold`.
* curves for reports: :func:`roc_curve`, :func:`pr_curve` (decimated).

Component level (SegmentMeIfYouCan): :func:`smiyc_component_metrics` (the benchmark's numbers in
one call), :func:`component_metrics`, :class:`ComponentMetrics` (per-component
:class:`ComponentRecord` values).
"""

from pebal.metrics.binned import SMIYC_VERSION
from pebal.metrics.components import (
    TRACKS,
    ComponentMetrics,
    ComponentRecord,
    component_metrics,
    smiyc_component_metrics,
)
from pebal.metrics.counts import PixelCounts
from pebal.metrics.curves import curves_from_counts, pr_curve, roc_curve
from pebal.metrics.errors import MetricInputError, MissingClassError, NoComponentsError
from pebal.metrics.operating import OperatingPoint, best_f1_threshold, threshold_at_fpr, threshold_at_tpr
from pebal.metrics.pixel import counts_from_arrays, pixel_metrics
from pebal.metrics.state import AnomalyMetrics

__all__ = [
    "AnomalyMetrics",
    "ComponentMetrics",
    "ComponentRecord",
    "MetricInputError",
    "MissingClassError",
    "NoComponentsError",
    "OperatingPoint",
    "PixelCounts",
    "SMIYC_VERSION",
    "TRACKS",
    "best_f1_threshold",
    "component_metrics",
    "counts_from_arrays",
    "curves_from_counts",
    "pixel_metrics",
    "pr_curve",
    "roc_curve",
    "smiyc_component_metrics",
    "threshold_at_fpr",
    "threshold_at_tpr",
]
