import math

import pytest
import torch

from pebal.scores import SCORES, entropy_score, get_score, max_logit_score, msp_score, energy_score


def _one_pixel(values):
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def test_post_hoc_scores_hand_values():
    logits = _one_pixel([2.0, 0.0, 50.0])  # third channel: abstention, ignored with Y=2
    p0 = math.exp(2) / (math.exp(2) + 1)
    assert msp_score(logits, 2).item() == pytest.approx(1 - p0, rel=1e-6)
    assert max_logit_score(logits, 2).item() == pytest.approx(-2.0)
    h = -(p0 * math.log(p0) + (1 - p0) * math.log(1 - p0))
    assert entropy_score(logits, 2).item() == pytest.approx(h, rel=1e-6)
    assert energy_score(logits, 2).item() == pytest.approx(-math.log(math.exp(2) + 1), rel=1e-6)


def test_scores_rank_uncertain_pixel_higher():
    logits = torch.zeros(1, 3, 8, 8)
    logits[0, 0] = 8.0
    logits[0, :, 4, 4] = torch.tensor([0.1, 0.0, -0.1])
    for name, fn in SCORES.items():
        s = fn(logits, 3)
        assert s.shape == (1, 8, 8)
        assert s[0, 4, 4] > s[0, 0, 0], name


def test_unknown_score_lists_names():
    with pytest.raises(ValueError, match="msp"):
        get_score("nope")
