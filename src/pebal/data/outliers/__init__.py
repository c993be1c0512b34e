"""Outlier-exposure pools for AnomalyMix: COCO, Meta-OoD masks, the embedded family, RGBA cut-outs.

Every source is sized and indexable; item ``i`` is an :class:`OutlierObject` cropped to the
bounding box of its object pixels. See :mod:`pebal.data.outliers.base` for the protocol.
"""

from pebal.data.outliers.base import IndexedOutlierSource, ObjectListSource, OutlierObject, OutlierSource
from pebal.data.outliers.coco import (
    META_OOD_EXCLUDED_CATEGORIES,
    CocoOutlierSource,
    coco_image_classes,
)
from pebal.data.outliers.folders import MaskFolderSource, RgbaFolderSource
from pebal.data.outliers.subsets import (
    subset_by_class_fraction,
    subset_by_count,
    subset_by_sample_fraction,
)

__all__ = [
    "META_OOD_EXCLUDED_CATEGORIES",
    "CocoOutlierSource",
    "IndexedOutlierSource",
    "MaskFolderSource",
    "ObjectListSource",
    "OutlierObject",
    "OutlierSource",
    "RgbaFolderSource",
    "coco_image_classes",
    "subset_by_class_fraction",
    "subset_by_count",
    "subset_by_sample_fraction",
]
