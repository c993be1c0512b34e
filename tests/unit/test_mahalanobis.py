"""Mahalanobis baseline: against a direct numpy computation of the definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pebal.baselines.mahalanobis import MahalanobisStatistics, classifier_features, fit_gaussians


def _direct(features, labels, queries, num_classes):
    """Class means, biased pooled covariance, np.linalg.inv, min over classes of the squared distance."""
    means = np.stack([features[labels == c].mean(0) for c in range(num_classes)])
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    inv = np.linalg.inv(cov)
    diff = queries[:, None, :] - means[None]
    return means, inv, np.einsum("pcd,de,pce->pc", diff, inv, diff).min(1)


def test_matches_numpy_on_random_features():
    rng = np.random.default_rng(0)
    num_classes, dim = 3, 5
    labels = rng.integers(0, num_classes, size=200)
    features = rng.normal(size=(200, dim)) + 2.0 * labels[:, None]
    queries = rng.normal(size=(12, dim)) * 3
    means, inv, expected = _direct(features, labels, queries, num_classes)

    stats = fit_gaussians(torch.from_numpy(features), torch.from_numpy(labels), num_classes)
    np.testing.assert_allclose(stats.means.numpy(), means, rtol=1e-10)
    np.testing.assert_allclose(stats.precision.numpy(), inv, rtol=1e-8, atol=1e-10)
    # queries as a (N=1, D, H=3, W=4) feature map
    fmap = torch.from_numpy(queries.T.reshape(1, dim, 3, 4))
    score = stats.score(fmap)
    assert score.shape == (1, 3, 4)
    np.testing.assert_allclose(score.numpy().reshape(-1), expected, rtol=1e-5)


def test_resize_to_the_image_size_and_json_round_trip():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=50)
    stats = fit_gaussians(torch.from_numpy(rng.normal(size=(50, 3))), torch.from_numpy(labels), num_classes=4)
    # classes 2 and 3 have no pixels: NaN means, skipped when scoring, null in JSON
    assert stats.count.tolist()[2:] == [0, 0]
    again = MahalanobisStatistics.from_json(stats.to_json())
    assert torch.equal(again.precision, stats.precision)
    fmap = torch.from_numpy(rng.normal(size=(2, 3, 2, 2)))
    score = again.score(fmap, size=(4, 6))
    assert score.shape == (2, 4, 6) and torch.isfinite(score).all()


def test_hook_reads_the_classifier_input(untrained_checkpoint):
    from pebal.models import load_checkpoint

    model = load_checkpoint(untrained_checkpoint)
    x = torch.randn(1, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), classifier_features(model) as store:
        logits = model(x)
        features, expected = model.network.forward_features(x)
    # the hook saw the second call's input; it equals forward_features' features
    assert torch.allclose(store[0], features)
    assert torch.allclose(logits, expected, atol=1e-5)
    with pytest.raises(ValueError, match="features have"):
        fit_gaussians(torch.zeros(4, 2, dtype=torch.float64), torch.tensor([0, 0, 1, 1]), 2).score(torch.zeros(1, 3, 1, 1))


def test_statistics_are_stored_in_the_checkpoint_and_reused(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch):
    import shutil

    import pebal.baselines.mahalanobis as maha
    import pebal.baselines.sml as sml
    from pebal.data.registry import open_dataset
    from pebal.models import load_checkpoint
    from pebal.models.checkpoint import read_metadata

    path = tmp_path / "model.safetensors"
    shutil.copyfile(untrained_checkpoint, path)
    train = open_dataset("synthetic-inlier", tiny_benchmark, split="train")
    model = load_checkpoint(path)
    first_m = maha.load_or_fit_mahalanobis(model, train, path, pixels_per_image=50, seed=3, max_images=4)
    first_s = sml.load_or_fit_sml(model, train, path, max_images=4)
    assert {"sml", "mahalanobis"} <= set(read_metadata(path))
    assert int(first_m.count.sum()) <= 4 * 50 and first_m.precision.shape == (48, 48)

    def refuse(*_args, **_kwargs):
        raise AssertionError("statistics were refitted")

    monkeypatch.setattr(maha, "fit_mahalanobis", refuse)
    monkeypatch.setattr(sml, "fit_sml", refuse)
    again = load_checkpoint(path)
    assert torch.allclose(maha.load_or_fit_mahalanobis(again, train, path, pixels_per_image=50, seed=3,
                                                       max_images=4).precision, first_m.precision)
    assert torch.equal(sml.load_or_fit_sml(again, train, path, max_images=4).mean, first_s.mean)
    with pytest.raises(AssertionError, match="refitted"):  # other settings -> a new fit
        maha.load_or_fit_mahalanobis(again, train, path, pixels_per_image=50, seed=4, max_images=4)
