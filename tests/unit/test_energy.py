import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from pebal.energy import abstention_penalty, anomaly_score, gaussian_smooth, inlier_energy


def test_inlier_energy_ignores_abstention_channel():
    logits = torch.zeros(1, 3, 1, 1)
    logits[0, 0] = 1.0
    logits[0, 2] = 100.0  # abstention channel of Y=2 must not enter
    expected = -math.log(math.e + 1.0)
    assert inlier_energy(logits, 2).item() == pytest.approx(expected, rel=1e-6)
    assert abstention_penalty(inlier_energy(logits, 2)).item() == pytest.approx(expected**2, rel=1e-6)


def test_gaussian_smooth_matches_scipy_mirror_mode():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 9, 13)).astype(np.float32)
    ours = gaussian_smooth(torch.from_numpy(x)).numpy()
    # scipy's "mirror" is reflect without repeating the edge; truncate 3 -> radius 3 -> 7 taps
    expected = np.stack([ndimage.gaussian_filter(m.astype(np.float64), 1.0, mode="mirror", truncate=3.0) for m in x])
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_gaussian_smooth_border_does_not_repeat_edge():
    # a 1-D impulse at the border: reflect (d c b | a b c d) counts the edge pixel once
    x = torch.zeros(1, 5, 8)
    x[0, :, 0] = 1.0
    out = gaussian_smooth(x)
    k = torch.exp(-0.5 * torch.arange(-3, 4, dtype=torch.float32) ** 2)
    k = k / k.sum()
    assert out[0, 2, 0].item() == pytest.approx(k[3].item(), rel=1e-5)
    assert out[0, 2, 1].item() == pytest.approx(k[4].item(), rel=1e-5)
    # symmetric padding (edge repeated) would give k[3] + k[4] at the border
    assert out[0, 2, 0].item() < (k[3] + k[4]).item() - 0.1


def test_gaussian_smooth_shapes_and_constant_maps():
    for shape in [(6, 7), (2, 6, 7), (2, 3, 6, 7)]:
        x = torch.full(shape, 2.5)
        out = gaussian_smooth(x)
        assert out.shape == x.shape
        torch.testing.assert_close(out, x)
    with pytest.raises(ValueError, match="too small"):
        gaussian_smooth(torch.zeros(1, 3, 10))
    with pytest.raises(ValueError, match="odd"):
        gaussian_smooth(torch.zeros(1, 10, 10), kernel_size=4)


def test_anomaly_score_is_smoothed_energy_higher_for_low_logits():
    logits = torch.full((1, 4, 8, 8), 5.0)
    logits[0, :3, 3:5, 3:5] = -5.0  # low inlier logits -> high energy -> anomalous
    score = anomaly_score(logits, 3)
    torch.testing.assert_close(score, gaussian_smooth(inlier_energy(logits, 3)))
    assert score[0, 4, 4] > score[0, 0, 0]
    assert anomaly_score(logits.bfloat16(), 3).dtype == torch.float32
