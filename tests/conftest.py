"""Shared fixtures: a tiny embedded benchmark and an untrained small-model checkpoint."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory):
    """A 64x128 embedded benchmark with a handful of images per split (made once per session)."""
    from pebal.data.synthetic import ensure_benchmark
    from pebal.data.synthetic.cache import SynthCounts

    root = tmp_path_factory.mktemp("tiny_synth")
    ensure_benchmark(root, seed=0, size=(64, 128), counts=SynthCounts(train=16, val=4, outlier_exposure=12, test=4))
    return root


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory):
    """A randomly initialised small DeepLabv3+ (19 classes, no abstention channel), seeded."""
    from pebal.models import create_model, save_checkpoint

    torch.manual_seed(0)
    network = create_model("deeplabv3plus_small", num_classes=19)
    path = tmp_path_factory.mktemp("ckpt") / "pretrained.safetensors"
    save_checkpoint(path, network, architecture="deeplabv3plus_small", num_classes=19, abstention=False)
    return path


def scaled_pebal_checkpoint(directory, seed: int):
    """An untrained small model with the abstention channel (19 + 1 classes), seeded, whose
    classifier is scaled down so its energies lie near -20..0 like a trained model's."""
    from pebal.models import create_model, save_checkpoint

    net = create_model("deeplabv3plus_small", num_classes=20, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        net.final[6].weight.mul_(0.05)
    path = directory / "m.safetensors"
    save_checkpoint(path, net, architecture="deeplabv3plus_small", num_classes=19, abstention=True)
    return path
