"""Evaluation helpers: segmentation metrics (confusion matrix, IoU, mIoU)."""

from pebal.evaluation.segmentation import (
    ConfusionMatrix,
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    present_classes,
)

__all__ = [
    "ConfusionMatrix",
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "present_classes",
]
