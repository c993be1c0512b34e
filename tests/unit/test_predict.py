"""Predictor: values against an independent numpy/scipy computation, thresholds, batching, tiles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.special import logsumexp

from pebal.data.transforms import image_to_tensor
from pebal.models import load_checkpoint, save_checkpoint
from pebal.inference.predictor import Prediction, Predictor, _starts, resolve_device, sliding_window_logits

from conftest import scaled_pebal_checkpoint  # noqa: E402

Y = 19


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A seeded untrained small model whose classifier is scaled so energies lie near -20..0."""
    return scaled_pebal_checkpoint(tmp_path_factory.mktemp("ckpt"), seed=0)


@pytest.fixture(scope="module")
def predictor(checkpoint):
    return Predictor(checkpoint, device="cpu")


def _images(n, h=48, w=80, seed=0):
    return list(np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8))


def _reference(model, image):
    """Score and segmentation by scipy: logsumexp over the inlier channels, 7x7 mirror-padded Gaussian."""
    with torch.no_grad():
        logits = model(image_to_tensor(image)[None])[0].double().numpy()
    energy = -logsumexp(logits[:Y], axis=0)
    x = np.arange(-3, 4)
    g = np.exp(-0.5 * x**2)
    g /= g.sum()
    # scipy 'mirror' = d c b | a b c d | c b a, torch's 'reflect'
    score = ndimage.convolve(energy, np.outer(g, g), mode="mirror")
    return score, logits[:Y].argmax(axis=0)


def test_predict_matches_independent_computation(predictor):
    image = _images(1, 45, 70, seed=3)[0]
    result = predictor.predict(image)
    score, seg = _reference(predictor.model, image)
    assert result.score.dtype == np.float32 and result.score.shape == (45, 70)
    assert result.segmentation.dtype == np.uint8
    np.testing.assert_allclose(result.score, score, atol=2e-4, rtol=0)
    assert (result.segmentation == seg).mean() > 0.999  # float32 vs float64 argmax ties only
    assert -40 < score.mean() < 0  # the fixture gives energies of a realistic magnitude


def test_threshold_and_scale_come_from_metadata_unless_overridden(tmp_path, checkpoint):
    model = load_checkpoint(checkpoint)
    path = tmp_path / "cal.safetensors"
    save_checkpoint(path, model.network, architecture="deeplabv3plus_small", num_classes=Y, abstention=True,
                    threshold=-12.5, heatmap_range=[-18.0, -4.0])
    image = _images(1)[0]
    stored = Predictor(path, device="cpu")
    assert stored.threshold == -12.5 and stored.score_range == (-18.0, -4.0)
    result = stored.predict(image)
    np.testing.assert_array_equal(result.mask, result.score >= np.float32(-12.5))
    override = Predictor(path, device="cpu", threshold=-30.0, score_range=(-25, 0))
    assert override.threshold == -30.0 and override.score_range == (-25.0, 0.0)
    assert Predictor(checkpoint, device="cpu").predict(image).mask is None


def test_mask_boundary_is_inclusive():
    score = np.array([[-1.0, -2.0], [-3.0, -2.0]], dtype=np.float32)
    p = Prediction(score=score, segmentation=np.zeros((2, 2), np.uint8), threshold=-2.0)
    np.testing.assert_array_equal(p.mask, [[True, True], [False, True]])
    assert p.summary()["anomalous_fraction"] == 0.75
    assert p.summary()["score_max"] == -1.0


def test_batch_and_stream_equal_single_predictions(checkpoint):
    predictor = Predictor(checkpoint, device="cpu", batch_size=3)
    images = _images(3, seed=1) + _images(2, 40, 64, seed=2)
    named = [(f"im{i}", im) for i, im in enumerate(images)]
    batched = predictor.predict_batch(named)
    assert [r.name for r in batched] == [f"im{i}" for i in range(5)]
    for image, result in zip(images, batched):
        single = predictor.predict(image)
        np.testing.assert_allclose(result.score, single.score, atol=1e-4)
        assert result.score.shape == image.shape[:2]


def test_stream_is_lazy(checkpoint):
    predictor = Predictor(checkpoint, device="cpu", batch_size=2)
    endless = itertools.repeat(_images(1, 32, 32)[0])
    results = list(itertools.islice(predictor.predict_stream(endless), 3))
    assert len(results) == 3


def test_bad_input_names_it(predictor):
    with pytest.raises(ValueError, match=r"frame7: expected a uint8 RGB image .*float64"):
        predictor.predict_batch([("frame7", np.zeros((8, 8, 3)))])
    with pytest.raises(FileNotFoundError, match="nope.png"):
        predictor.predict("nope.png")


def test_predict_reads_paths(tmp_path, predictor):
    from PIL import Image

    image = _images(1, 40, 48)[0]
    Image.fromarray(image).save(tmp_path / "street.png")
    result = predictor.predict(tmp_path / "street.png")
    assert result.name == "street"
    np.testing.assert_array_equal(result.image, image)


def test_tile_starts():
    assert _starts(10, 4, 3) == [0, 3, 6]
    assert _starts(10, 4, 4) == [0, 4, 6]
    assert _starts(4, 8, 2) == [0]


def test_sliding_window_averages_overlapping_tiles():
    # a "model" that outputs the mean of its tile: hand-computable averages
    def tile_mean(x):
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x)[:, :1]

    x = torch.tensor([0.0, 2.0, 4.0, 6.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    out = sliding_window_logits(tile_mean, x, window=(1, 2), overlap=0.5)  # tiles [0,1] [1,2] [2,3]
    np.testing.assert_allclose(out.view(-1).numpy(), [1.0, 2.0, 4.0, 5.0])


def test_sliding_window_equals_full_pass_for_a_pixelwise_model():
    conv = torch.nn.Conv2d(3, 5, 1)
    x = torch.randn(2, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tiled = sliding_window_logits(conv, x, window=(16, 24), overlap=0.25)
        np.testing.assert_allclose(tiled.numpy(), conv(x).numpy(), atol=1e-6)


def test_predictor_window_covers_whole_image(checkpoint):
    image = _images(1, 48, 80, seed=5)[0]
    full = Predictor(checkpoint, device="cpu").predict(image)
    same = Predictor(checkpoint, device="cpu", window=(64, 128)).predict(image)  # window > image
    np.testing.assert_array_equal(full.score, same.score)
    tiled = Predictor(checkpoint, device="cpu", window=(32, 48)).predict(image)
    assert tiled.score.shape == (48, 80) and np.isfinite(tiled.score).all()


def test_device_auto():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


def test_renderers_of_a_prediction(predictor):
    image = _images(1, 32, 40)[0]
    result = predictor.predict(image)
    for picture in (result.heatmap(), result.overlay(), result.final_prediction(), result.segmentation_image()):
        assert picture.shape == (32, 40, 3) and picture.dtype == np.uint8
    no_image = Prediction(score=result.score, segmentation=result.segmentation)
    with pytest.raises(ValueError, match="overlay"):
        no_image.overlay()
