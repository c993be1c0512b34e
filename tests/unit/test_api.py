"""The documented top-level API: each name imports, works on tiny tensors, and loads lazily."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import pebal


@pytest.mark.parametrize("name", sorted(set(pebal.__all__) - {"__version__"}))
def test_each_public_name_imports(name):
    value = getattr(pebal, name)
    module = pebal._API[name]
    assert value is getattr(__import__(module, fromlist=[name]), name)
    assert name in dir(pebal)


def test_unknown_name_lists_the_public_ones():
    with pytest.raises(AttributeError, match="public names: .*PEBALLoss"):
        pebal.NoSuchThing  # noqa: B018


def test_docstring_example_runs_with_values():
    from pebal import PEBALLoss, anomaly_score, inlier_energy, pixel_metrics

    torch.manual_seed(0)
    logits = torch.randn(2, 20, 6, 7)
    target = torch.randint(0, 19, (2, 6, 7))
    target[0, :2, :2] = 254  # pasted outlier pixels
    total, parts = PEBALLoss(num_classes=19)(logits, target)
    assert total.ndim == 0 and torch.isfinite(total) and parts["total"] == total.detach()
    score = anomaly_score(logits, num_classes=19)
    # without smoothing the score is the inlier free energy E = -logsumexp of the Y inlier logits
    raw = anomaly_score(logits, num_classes=19, kernel_size=1)
    assert torch.allclose(raw, -torch.logsumexp(logits[:, :19], 1), atol=1e-6)
    assert torch.equal(raw, inlier_energy(logits, 19))
    # smoothing keeps the mean of a constant map and changes a varying one
    assert score.shape == (2, 6, 7) and not torch.allclose(score, raw)
    labels = (target == 254).to(torch.uint8)
    metrics = pixel_metrics(score, labels)
    assert 0.0 <= metrics["auroc"] <= 1.0 and 0.0 < metrics["ap"] <= 1.0


def test_import_pebal_loads_no_heavy_or_optional_module():
    code = (
        "import sys, pebal; heavy = {'torch', 'numpy', 'cv2', 'h5py', 'onnx', 'onnxruntime', 'pycocotools', "
        "'matplotlib', 'scipy', 'tensorboard'}; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pixel_metrics_from_the_top_level_accepts_flat_numpy():
    from pebal import pixel_metrics

    scores = np.array([0.1, 0.9, 0.4, 0.8], np.float32)
    labels = np.array([0, 1, 0, 1], np.uint8)
    assert pixel_metrics(scores, labels)["auroc"] == 1.0
