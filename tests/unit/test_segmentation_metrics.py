"""Confusion matrix, IoU and mIoU: hand-computed values and scikit-learn as the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import jaccard_score

from pebal.metrics.segmentation import (
    ConfusionMatrix,
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    present_classes,
)


def test_hand_computed_example():
    label = np.array([[0, 0, 1, 1], [2, 255, 2, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 3]])
    conf = confusion_matrix(pred, label, num_classes=4)
    expected = np.array(
        [
            [1, 1, 0, 0],  # class 0: one right, one taken for 1
            [0, 2, 0, 1],  # class 1: two right, one taken for 3
            [1, 0, 1, 0],  # class 2: one right, one taken for 0 (the 255 pixel is skipped)
            [0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(conf, expected)
    # IoU_0 = 1 / (2 + 2 - 1), IoU_1 = 2 / (3 + 3 - 2), IoU_2 = 1 / 2, IoU_3 = 0 / 1
    np.testing.assert_allclose(iou_per_class(conf), [1 / 3, 1 / 2, 1 / 2, 0.0])
    assert present_classes(conf) == [0, 1, 2]
    # class 3 is never labelled: left out of the mean, but its false positive hurts class 1
    assert mean_iou(conf) == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert mean_iou(conf, classes=[0, 1, 2, 3]) == pytest.approx((1 / 3 + 1 / 2 + 1 / 2 + 0) / 4)
    assert pixel_accuracy(conf) == pytest.approx(4 / 7)


def test_absent_class_has_nan_iou():
    conf = confusion_matrix(np.array([0, 0, 2]), np.array([0, 2, 2]), num_classes=3)
    iou = iou_per_class(conf)
    assert np.isnan(iou[1])
    np.testing.assert_allclose(iou[[0, 2]], [1 / 2, 1 / 2])


def test_matches_scikit_learn_on_random_maps():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 6, size=(3, 20, 30))
    label[rng.random(label.shape) < 0.1] = 255
    pred = np.where(rng.random(label.shape) < 0.6, np.where(label == 255, 0, label), rng.integers(0, 6, label.shape))
    conf = confusion_matrix(pred, label, num_classes=6)
    keep = label != 255
    np.testing.assert_array_equal(conf, sk_confusion_matrix(label[keep], pred[keep], labels=range(6)))
    reference = jaccard_score(label[keep], pred[keep], labels=range(6), average=None)
    np.testing.assert_allclose(iou_per_class(conf), reference)
    assert mean_iou(conf) == pytest.approx(reference.mean())


def test_accumulator_equals_one_shot_and_accepts_tensors():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 4, size=(4, 8, 8)).astype(np.uint8)
    pred = rng.integers(0, 4, size=(4, 8, 8))
    meter = ConfusionMatrix(4)
    meter.update(torch.from_numpy(pred[:2]), torch.from_numpy(label[:2]))
    meter.update(pred[2:], label[2:])
    np.testing.assert_array_equal(meter.conf, confusion_matrix(pred, label, 4))
    result = meter.compute()
    assert result["miou"] == pytest.approx(mean_iou(confusion_matrix(pred, label, 4)))
    meter.reset()
    assert meter.conf.sum() == 0


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="shapes differ"):
        confusion_matrix(np.zeros((2, 3), int), np.zeros((3, 2), int), 2)
    with pytest.raises(ValueError, match=r"label holds values outside \[0, 2\).*\[7\]"):
        confusion_matrix(np.zeros(3, int), np.array([0, 7, 255]), 2)
    with pytest.raises(ValueError, match=r"pred holds values outside \[0, 2\).*\[5\]"):
        confusion_matrix(np.array([0, 5, 1]), np.array([0, 1, 1]), 2)
    with pytest.raises(TypeError, match="integer class ids"):
        confusion_matrix(np.zeros(3), np.zeros(3, int), 2)
