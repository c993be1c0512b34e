"""Video in, video out, on a tiny video the test writes itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pebal.models import create_model
from pebal.model import PEBALModel
from pebal.inference.predictor import Predictor
from pebal.inference.video import VideoReadError, is_video, predict_video, read_frames, video_properties

Y = 19


@pytest.fixture(scope="module")
def predictor():
    net = create_model("deeplabv3plus_small", num_classes=Y + 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.final[6].weight.mul_(0.05)
    return Predictor(PEBALModel(net, Y, add_abstention=False), device="cpu", batch_size=2, threshold=-12.0)


def _write_video(path, frames, fps=8.0):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _smooth_frames(n, h=48, w=64):
    # smooth content so that lossy mp4v keeps it close to the original
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([(x * 4 + 20 * i) % 256, (y * 5) % 256, np.full_like(x, 60 * i % 256)], -1).astype(np.uint8)
            for i in range(n)]


def test_video_in_video_out(tmp_path, predictor):
    frames = _smooth_frames(5)
    source = tmp_path / "clip.mp4"
    _write_video(source, frames)
    assert is_video(source) and not is_video(tmp_path / "a.png")
    props = video_properties(source)
    assert (props["width"], props["height"]) == (64, 48) and props["fps"] == pytest.approx(8.0)

    seen = []
    outputs = {"overlay": tmp_path / "o.mp4", "final": tmp_path / "f.mp4"}
    stats = predict_video(predictor, source, outputs, on_prediction=lambda i, p: seen.append((i, p)))
    assert stats["frames"] == 5 and [i for i, _ in seen] == list(range(5))
    assert len(stats["score_max"]) == 5 and len(stats["anomalous_fraction"]) == 5
    for i, p in seen:
        assert stats["score_max"][i] == pytest.approx(float(p.score.max()))
        assert stats["anomalous_fraction"][i] == pytest.approx(float((p.score >= -12.0).mean()))

    written = list(read_frames(outputs["final"]))
    assert len(written) == 5 and written[0].shape == (48, 64, 3)
    # the final-prediction video shows the rendered frames (up to mp4v's loss)
    diff = np.abs(written[2].astype(int) - seen[2][1].final_prediction().astype(int)).mean()
    assert diff < 25, diff
    # predictions came from the decoded frames, which are close to what was written
    decoded = list(read_frames(source))
    assert np.abs(decoded[0].astype(int) - frames[0].astype(int)).mean() < 10
    np.testing.assert_array_equal(seen[0][1].image, decoded[0])


def test_unreadable_videos_are_named(tmp_path, predictor):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        predict_video(predictor, bad, {"final": tmp_path / "x.mp4"})
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        list(read_frames(tmp_path / "missing.avi"))
    with pytest.raises(ValueError, match="unknown video renderings"):
        predict_video(predictor, bad, {"sepia": tmp_path / "x.mp4"})
