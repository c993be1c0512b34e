"""Score-map export: SMIYC HDF5 layout, .npy and 16-bit PNG, resumption and sharding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from pebal.energy import anomaly_score
from pebal.inference.score_export import (
    benchmark_dataset_name,
    default_format,
    export_scores,
    read_png_scores,
    smiyc_split_name,
)
from pebal.model import PEBALModel


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.final = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))

    def forward(self, x):
        return self.final(x)


@pytest.fixture(scope="module")
def model():
    g = torch.Generator().manual_seed(0)
    net = TinyNet()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return PEBALModel(net, num_classes=2, generator=g).eval()


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return [{"image": rng.integers(0, 256, (9 + i, 12, 3), dtype=np.uint8), "label": None, "name": f"f{i}"}
            for i in range(4)]


def expected_scores(model, image):
    """ImageNet normalisation written out, then the model and the PEBAL score."""
    x = (image.astype(np.float32) / 255 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(2, 0, 1)[None])
    return anomaly_score(logits, 2)[0].numpy()


def test_smiyc_layout(tmp_path, model, frames):
    h5py = pytest.importorskip("h5py")
    written = export_scores(model, frames, tmp_path, fmt="smiyc", method="PEBAL",
                            dataset_name="AnomalyTrack-test", progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        f"anomaly_p/PEBAL/AnomalyTrack-test/f{i}.hdf5" for i in range(4)]
    for frame, path in zip(frames, written):
        with h5py.File(path, "r") as f:
            assert list(f.keys()) == ["value"]
            value = f["value"][()]
        assert value.dtype == np.float16 and value.shape == frame["image"].shape[:2]
        expected = expected_scores(model, frame["image"])
        np.testing.assert_allclose(value.astype(np.float32), expected.astype(np.float16).astype(np.float32),
                                   rtol=0, atol=1e-6 * np.abs(expected).max() + 1e-3)


def test_npy_and_resume(tmp_path, model, frames):
    export_scores(model, frames, tmp_path, fmt="npy", progress=False)
    for frame in frames:
        np.testing.assert_allclose(np.load(tmp_path / f"{frame['name']}.npy"),
                                   expected_scores(model, frame["image"]), rtol=1e-5, atol=1e-5)
    # existing outputs are kept (resumable runs) unless overwrite
    assert export_scores(model, frames, tmp_path, fmt="npy", progress=False) == []
    assert len(export_scores(model, frames, tmp_path, fmt="npy", overwrite=True, progress=False)) == 4


def test_png_round_trip(tmp_path, model, frames):
    export_scores(model, frames, tmp_path, fmt="png", progress=False)
    ranges = json.loads((tmp_path / "png_ranges.json").read_text())
    assert sorted(ranges) == ["f0", "f1", "f2", "f3"]
    for frame in frames:
        expected = expected_scores(model, frame["image"])
        lo, hi = expected.min(), expected.max()
        assert ranges[frame["name"]] == pytest.approx([lo, hi], rel=1e-6)
        back = read_png_scores(tmp_path / f"{frame['name']}.png", tmp_path / "png_ranges.json", frame["name"])
        np.testing.assert_allclose(back, expected, atol=(hi - lo) / 65535 * 0.51 + 1e-6)


def test_sharding_over_processes(tmp_path, model, frames):
    written = export_scores(model, frames, tmp_path, fmt="npy", rank=1, world_size=2, progress=False)
    assert [p.name for p in written] == ["f1.npy", "f3.npy"]
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        export_scores(model, frames, tmp_path, fmt="npy", rank=2, world_size=2, progress=False)


def test_benchmark_names():
    """The folders are the benchmark's persistence names, not its split names."""
    for split in ("validation", "test", "all"):
        assert benchmark_dataset_name("smiyc-anomaly", split) == "AnomalyTrack-all"
        assert benchmark_dataset_name("smiyc-obstacle", split) == "ObstacleTrack-all"
    for name in ("lostandfound", "lostandfound-smiyc", "lostandfound-pebal"):
        assert benchmark_dataset_name(name, "testNoKnown") == "LostAndFound-test"
        assert benchmark_dataset_name(name, "test") == "LostAndFound-test"
        assert benchmark_dataset_name(name, "train") == "LostAndFound-train"
    assert smiyc_split_name("smiyc-obstacle", "test") == "ObstacleTrack-test"
    assert smiyc_split_name("lostandfound", "testNoKnown") == "LostAndFound-testNoKnown"
    assert benchmark_dataset_name("road-anomaly", None) == "road-anomaly"
    assert smiyc_split_name("road-anomaly", None) is None
    assert default_format("smiyc-anomaly") == "smiyc" and default_format("fishyscapes-laf") == "npy"


def test_smiyc_refuses_scores_float16_cannot_hold(tmp_path, model, frames):
    from pebal.inference.score_export import write_scores

    with pytest.raises(ValueError, match="do not fit float16"):
        write_scores(tmp_path / "f.hdf5", np.array([[1e5, 0.0]], np.float32), "smiyc")
    assert not (tmp_path / "f.hdf5").exists()
