"""AnomalyMetrics: streaming updates, merging and resetting give the one-shot numbers exactly."""

import numpy as np
import pytest
import torch

from pebal.metrics import AnomalyMetrics, MetricInputError, MissingClassError, pixel_metrics


def maps(seed, n=4, h=16, w=20, dtype=np.float32):
    rng = np.random.default_rng(seed)
    lab = (rng.random((n, h, w)) < 0.08).astype(np.uint8)
    lab[rng.random((n, h, w)) < 0.05] = 255
    s = (rng.normal(size=(n, h, w)) + 1.5 * (lab == 1)).astype(np.float16).astype(dtype)
    return s, lab


def test_per_image_updates_equal_one_shot_bit_for_bit():
    s, lab = maps(0)
    m = AnomalyMetrics()
    for i in range(s.shape[0]):
        m.update(torch.from_numpy(s[i]), torch.from_numpy(lab[i]))
    assert m.num_images == 4
    assert m.compute() == pixel_metrics(s, lab)


def test_merge_in_any_split_is_bit_for_bit():
    s, lab = maps(1, n=6)
    whole = AnomalyMetrics()
    whole.update(s, lab)
    a, b = AnomalyMetrics(), AnomalyMetrics()
    a.update(s[[0, 3, 4]], lab[[0, 3, 4]])
    b.update(s[[5, 1, 2]], lab[[5, 1, 2]])
    assert b.merge(a).compute() == whole.compute()
    assert b.num_images == 6


def test_float64_update_after_float32_widens_exactly():
    s, lab = maps(2)
    mixed = AnomalyMetrics()
    mixed.update(s[:2], lab[:2])
    mixed.update(s[2:].astype(np.float64), lab[2:])
    assert mixed.bits == 64
    assert mixed.compute() == pixel_metrics(s.astype(np.float64), lab)


def test_reset_and_rejected_update_leave_no_trace():
    s, lab = maps(3)
    m = AnomalyMetrics()
    m.update(s[:2], lab[:2])
    before = m.compute()
    bad = s[2:].copy()
    bad[1, 3, 3] = np.nan
    lab2 = lab[2:].copy()
    lab2[1, 3, 3] = 0
    with pytest.raises(MetricInputError, match="image 1 of this update \\(image 3 since reset\\)"):
        m.update(bad, lab2)
    assert m.compute() == before and m.num_images == 2
    m.reset()
    with pytest.raises(MissingClassError):
        m.compute()


def test_smiyc_mode_streams_and_merges():
    s, lab = maps(4)
    m = AnomalyMetrics(mode="smiyc")
    for i in range(4):
        m.update(s[i], lab[i])
    a, b = AnomalyMetrics(mode="smiyc"), AnomalyMetrics(mode="smiyc")
    a.update(s[2:], lab[2:])
    b.update(s[:2], lab[:2])
    assert a.merge(b).compute() == m.compute() == pixel_metrics(s, lab, mode="smiyc")
    with pytest.raises(ValueError, match="cannot merge"):
        m.merge(AnomalyMetrics())
