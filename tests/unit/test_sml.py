"""SML: per-class max-logit statistics and the standardised score, hand-computed."""

from __future__ import annotations

import math

import pytest
import torch

from pebal.baselines.sml import SMLStatistics, sml_statistics


def _logits(rows):
    """(H=1, W) pixels given as lists of per-class logits -> (1, C, 1, W)."""
    return torch.tensor(rows, dtype=torch.float32).T[None, :, None, :]


def test_statistics_and_score_by_hand():
    # 2 inlier classes + an abstention channel that must be ignored (value 100)
    px = [[3.0, 1.0, 100.0], [5.0, 0.0, 100.0], [0.0, 2.0, 100.0], [1.0, 6.0, 100.0], [0.0, 10.0, 100.0]]
    stats = sml_statistics(_logits(px), num_classes=2)
    # class 0 predicted at max logits 3, 5 -> mean 4, std 1; class 1 at 2, 6, 10 -> mean 6, std sqrt(32/3)
    assert stats.count.tolist() == [2, 3]
    assert stats.mean.tolist() == pytest.approx([4.0, 6.0])
    assert stats.std.tolist() == pytest.approx([1.0, math.sqrt(32 / 3)])
    test = _logits([[7.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    score = stats.score(test)
    assert score.shape == (1, 1, 2)
    assert score[0, 0].tolist() == pytest.approx([-(7 - 4) / 1.0, -(1 - 6) / math.sqrt(32 / 3)])


def test_void_pixels_are_left_out_and_missing_class_falls_back():
    px = [[3.0, 1.0, 0.0], [5.0, 0.0, 0.0], [9.0, 0.0, 0.0]]
    labels = torch.tensor([[[0, 0, 255]]])
    stats = sml_statistics(_logits(px), num_classes=3, labels=labels)
    # class 0 from the max logits 3, 5 only; classes 1 and 2 never predicted -> pooled (3, 5): mean 4, std 1
    assert stats.count.tolist() == [2, 0, 0]
    assert stats.mean.tolist() == pytest.approx([4.0, 4.0, 4.0])
    assert stats.std.tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_json_round_trip():
    stats = SMLStatistics(mean=torch.tensor([1.0, 2.0], dtype=torch.float64),
                          std=torch.tensor([0.5, 3.0], dtype=torch.float64), count=torch.tensor([4, 7]))
    again = SMLStatistics.from_json(stats.to_json())
    assert torch.equal(again.mean, stats.mean) and torch.equal(again.std, stats.std)
    assert again.count.tolist() == [4, 7]


def test_bad_logits_are_refused():
    with pytest.raises(ValueError, match="logits must be"):
        sml_statistics(torch.zeros(1, 2, 3), num_classes=2)
