"""Pretraining pieces: class weights, schedule, augmentation, loss, and a tiny end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pebal.data.transforms import image_to_tensor
from pebal.training.pretrain import PretrainConfig, augment_batch, class_weights, learning_rate, pretrain, segmentation_loss


def test_class_weights_inverse_sqrt_frequency():
    labels = np.array([0] * 81 + [1] * 9 + [1] * 10 + [255] * 5, dtype=np.uint8)  # f = 0.81, 0.19
    w = class_weights(labels, num_classes=3, power=0.5, max_weight=100.0).numpy()
    raw = np.array([0.81**-0.5, 0.19**-0.5])
    expected = raw / (0.81 * raw[0] + 0.19 * raw[1])
    np.testing.assert_allclose(w[:2], expected, rtol=1e-6)
    assert w[2] == 1.0  # absent class
    assert 0.81 * w[0] + 0.19 * w[1] == pytest.approx(1.0)
    clipped = class_weights(labels, num_classes=3, power=2.0, max_weight=2.0).numpy()
    assert clipped[1] / clipped[0] == pytest.approx(2.0)


def test_learning_rate_schedule():
    cfg = PretrainConfig(lr=1.0, steps=110, warmup_steps=10, poly_power=0.9)
    assert learning_rate(0, cfg) == pytest.approx(0.1)
    assert learning_rate(9, cfg) == pytest.approx(1.0)
    assert learning_rate(10, cfg) == pytest.approx(1.0)
    assert learning_rate(60, cfg) == pytest.approx(0.5**0.9)
    assert learning_rate(110, cfg) == 0.0


def test_augmentation_identity_up_to_flip_and_label_alignment():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 8, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 5, size=(4, 8, 16), dtype=np.uint8)
    cfg = PretrainConfig(scale_range=(1.0, 1.0), colour_jitter=0.0)
    x, y = augment_batch(images, labels, cfg, np.random.default_rng(1))
    assert x.shape == (4, 3, 8, 16) and y.dtype == torch.int64
    for i in range(4):
        plain = image_to_tensor(images[i])
        flipped = not torch.equal(y[i], torch.from_numpy(labels[i].astype(np.int64)))
        expected_x = plain.flip(-1) if flipped else plain
        expected_y = torch.from_numpy(labels[i].astype(np.int64))
        torch.testing.assert_close(x[i], expected_x)
        assert torch.equal(y[i], expected_y.flip(-1) if flipped else expected_y)


def test_augmentation_shrinking_pads_with_ignore_and_keeps_label_values():
    images = np.full((2, 16, 32, 3), 100, dtype=np.uint8)
    labels = np.full((2, 16, 32), 3, dtype=np.uint8)
    cfg = PretrainConfig(scale_range=(0.5, 0.5), colour_jitter=0.0)
    _, y = augment_batch(images, labels, cfg, np.random.default_rng(2))
    for i in range(2):
        assert (y[i] == 3).sum() == 8 * 16  # the half-size image
        assert (y[i] == 255).sum() == 16 * 32 - 8 * 16


def test_augmentation_crop_size():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(2, 16, 32, 3), dtype=np.uint8)
    labels = np.arange(16 * 32).reshape(1, 16, 32).repeat(2, 0).astype(np.uint8) % 7
    cfg = PretrainConfig(scale_range=(1.0, 1.0), colour_jitter=0.0, crop_size=(8, 16))
    x, y = augment_batch(images, labels, cfg, np.random.default_rng(4))
    assert x.shape == (2, 3, 8, 16) and y.shape == (2, 8, 16)
    for i in range(2):  # each crop is a window of the (possibly flipped) label map
        full = torch.from_numpy(labels[i].astype(np.int64))
        windows = [f[r : r + 8, c : c + 16] for f in (full, full.flip(-1)) for r in range(9) for c in range(17)]
        assert any(torch.equal(y[i], win) for win in windows)


def test_ohem_averages_the_hardest_pixels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 3, 4, 5, generator=g)
    target = torch.randint(0, 3, (1, 4, 5), generator=g)
    target[0, 0, :] = 255
    per_pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[target != 255]
    k = math.ceil(0.25 * 15)
    expected = per_pixel.sort(descending=True).values[:k].mean()
    torch.testing.assert_close(segmentation_loss(logits, target, ohem_fraction=0.25), expected)
    torch.testing.assert_close(segmentation_loss(logits, target), per_pixel.mean())


def test_tiny_run_learns_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    n, h, w = 12, 16, 32
    images = np.zeros((n, h, w, 3), np.uint8)
    labels = np.zeros((n, h, w), np.uint8)
    images[:, : h // 2] = (70, 130, 180)
    labels[:, : h // 2] = 10
    images[:, h // 2 :] = (128, 64, 128)
    images = np.clip(images + rng.normal(0, 8, images.shape), 0, 255).astype(np.uint8)
    out = tmp_path / "m.safetensors"
    cfg = PretrainConfig(output=str(out), steps=12, batch_size=4, warmup_steps=2, lr=3e-3, eval_every=0,
                         log_every=100, threads=1, scale_range=(1.0, 1.0))
    summary = pretrain(cfg, log=lambda s: None, data=(images[:8], labels[:8], images[8:], labels[8:]))
    assert summary["val_classes"] == [0, 10]
    assert summary["steps_done"] == 12
    assert summary["val_pixel_accuracy"] > 0.9  # two flat colours: learnable in a few steps
    from pebal.models import load_checkpoint

    model = load_checkpoint(out)
    assert model.metadata["architecture"] == "deeplabv3plus_small"
    assert model.metadata["config"]["steps"] == 12
    assert model.metadata["val_miou"] == pytest.approx(summary["val_miou"])

    from pebal.training.model_card import render_model_card

    summary.update(command="pebal pretrain --steps 12", file_size_bytes=out.stat().st_size, forward_ms=12.5, threads=1,
                   colour_baseline={"bits": 5, "iou": {0: 0.25, 10: 0.75}, "miou": 0.5, "pixel_accuracy": 0.6})
    card = render_model_card(summary)
    assert "pebal pretrain --steps 12" in card
    assert f"| 10 | sky | {summary['val_iou'][10]:.3f} | 0.750 |" in card
    assert f"**{summary['val_miou']:.3f}**" in card and "| colour lookup (RGB only) | 0.500 | 0.600 |" in card


def test_cli_config_file_then_flags(tmp_path):
    from pebal.cli import build_parser
    from pebal.cli.pretrain import resolve_config

    config = tmp_path / "pretrain.yaml"
    config.write_text("steps: 7\nlr: 0.5\ncrop_size: [64, 128]\n")
    args = build_parser().parse_args(["pretrain", "--config", str(config), "--lr", "0.25", "--seed", "3"])
    cfg = resolve_config(args)
    assert (cfg.steps, cfg.lr, cfg.seed, cfg.crop_size) == (7, 0.25, 3, (64, 128))
    assert cfg.batch_size == PretrainConfig().batch_size  # untouched default
    config.write_text("stepz: 7\n")
    with pytest.raises(SystemExit, match="unknown keys \\['stepz'\\]"):
        resolve_config(build_parser().parse_args(["pretrain", "--config", str(config)]))


def test_the_data_source_names_the_benchmark_version_of_its_manifest(tmp_path):
    import json

    from pebal.training.pretrain import synthetic_data_source

    assert synthetic_data_source() == "pebal.data.synthetic generator version 3"  # the default benchmark
    assert synthetic_data_source(tmp_path) == "pebal.data.synthetic generator version 3"  # no manifest yet: the default
    (tmp_path / "manifest.json").write_text(json.dumps({"generator": "pebal.data.synthetic", "version": "2"}))
    assert synthetic_data_source(tmp_path) == "pebal.data.synthetic generator version 2"
