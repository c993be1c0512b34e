"""Video in, video out, on a tiny video the test writes itself: every frame's scores, H.264
(or the announced mp4v fallback), files that appear only when complete."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest
import torch

from pebal.inference import video_encode
from pebal.inference.npy_stream import NpyStreamWriter
from pebal.inference.predictor import Predictor
from pebal.inference.video import (NonFiniteScoreError, VideoReadError, is_video, predict_video, read_frames,
                                   video_properties)
from pebal.inference.video_encode import VideoWriter, h264_available
from pebal.model import PEBALModel
from pebal.models import create_model

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
    # smooth content so that lossy codecs keep it close to the original
    y, x = np.mgrid[0:h, 0:w]
    return [np.stack([(x * 4 + 20 * i) % 256, (y * 5) % 256, np.full_like(x, 60 * i % 256)], -1).astype(np.uint8)
            for i in range(n)]


def _codec_name(path):
    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                           capture_output=True, text=True).stderr
    return probe


def test_video_in_video_out(tmp_path, predictor):
    frames = _smooth_frames(5)
    source = tmp_path / "clip.mp4"
    _write_video(source, frames)
    assert is_video(source) and not is_video(tmp_path / "a.png")
    props = video_properties(source)
    assert (props["width"], props["height"]) == (64, 48) and props["fps"] == pytest.approx(8.0)

    seen = []
    outputs = {"overlay": tmp_path / "o.mp4", "final": tmp_path / "f.mp4", "heatmap": tmp_path / "h.mp4"}
    stats = predict_video(predictor, source, outputs, on_prediction=lambda i, p: seen.append((i, p)),
                          scores=tmp_path / "s.npy")
    assert stats["frames"] == 5 and [i for i, _ in seen] == list(range(5))
    assert len(stats["score_max_per_frame"]) == 5 and len(stats["anomalous_fraction_per_frame"]) == 5
    for i, p in seen:
        assert stats["score_max_per_frame"][i] == pytest.approx(float(p.score.max()))
        assert stats["anomalous_fraction_per_frame"][i] == pytest.approx(float((p.score >= -12.0).mean()))
    # every frame's score map, in order, in one (T, H, W) array
    scores = np.load(tmp_path / "s.npy")
    assert scores.shape == (5, 48, 64) and scores.dtype == np.float32
    for i, p in seen:
        np.testing.assert_array_equal(scores[i], p.score)
    assert stats["score_max"] == pytest.approx(scores.max()) and stats["score_mean"] == pytest.approx(scores.mean())
    # one scale for the whole clip: the robust range of the first frame (the predictor has none)
    from pebal.inference.render import robust_range

    assert stats["score_range"] == pytest.approx(list(robust_range(seen[0][1].score)))
    assert all(p.score_range == tuple(stats["score_range"]) for _, p in seen)

    for name, path in outputs.items():
        written = list(read_frames(path))
        assert len(written) == 5 and written[0].shape == (48, 64, 3), name
    # the rendered videos show the rendered frames (up to the codec's loss)
    written = list(read_frames(outputs["final"]))
    diff = np.abs(written[2].astype(int) - seen[2][1].final_prediction().astype(int)).mean()
    assert diff < 12, diff
    heat = list(read_frames(outputs["heatmap"]))
    assert np.abs(heat[4].astype(int) - seen[4][1].heatmap().astype(int)).mean() < 12
    # predictions came from the decoded frames, which are close to what was written
    decoded = list(read_frames(source))
    assert np.abs(decoded[0].astype(int) - frames[0].astype(int)).mean() < 10
    np.testing.assert_array_equal(seen[0][1].image, decoded[0])
    if h264_available():
        assert stats["codec"] == "h264" and "Video: h264" in _codec_name(outputs["overlay"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "f.mp4", "h.mp4", "o.mp4", "s.npy"]


def test_non_finite_frames_leave_no_files(tmp_path):
    net = create_model("deeplabv3plus_small", num_classes=Y + 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.final[6].weight.fill_(float("nan"))
    broken = Predictor(PEBALModel(net, Y, add_abstention=False), device="cpu", threshold=-12.0)
    source = tmp_path / "clip.mp4"
    _write_video(source, _smooth_frames(3))
    with pytest.raises(NonFiniteScoreError, match="frame 0 has 3072 non-finite"):
        predict_video(broken, source, {"overlay": tmp_path / "o.mp4"}, scores=tmp_path / "s.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no target, no temporary file


def test_unreadable_videos_are_named(tmp_path, predictor):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        predict_video(predictor, bad, {"final": tmp_path / "x.mp4"})
    with pytest.raises(FileNotFoundError, match="missing.avi"):
        list(read_frames(tmp_path / "missing.avi"))
    with pytest.raises(ValueError, match="unknown video renderings"):
        predict_video(predictor, bad, {"sepia": tmp_path / "x.mp4"})


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
def test_writer_renames_when_complete_and_pads_odd_sizes(tmp_path, codec):
    if codec == "h264" and not h264_available():
        pytest.skip("imageio-ffmpeg (the video extra) is not installed")
    frames = [np.full((25, 31, 3), 40 * i, np.uint8) for i in range(3)]
    target = tmp_path / "v.mp4"
    writer = VideoWriter(target, 5.0, (25, 31), codec=codec)
    for frame in frames:
        writer.write(frame)
    assert not target.exists() and writer.tmp.exists()  # only the temporary name while writing
    writer.close()
    assert target.is_file() and not writer.tmp.exists()
    back = list(read_frames(target))
    assert len(back) == 3 and back[0].shape[:2] == (26, 32)  # padded to even sizes
    assert abs(int(back[2][5, 5].mean()) - 80) <= 3  # flat grey survives the codec
    with pytest.raises(ValueError, match=r"frame 0 is uint8 \(2, 2, 3\)"):
        VideoWriter(tmp_path / "w.mp4", 5.0, (25, 31), codec=codec).write(np.zeros((2, 2, 3), np.uint8))
    with VideoWriter(tmp_path / "aborted.mp4", 5.0, (25, 31), codec=codec) as w2:
        w2.write(frames[0])
        w2.abort()
    assert not (tmp_path / "aborted.mp4").exists()


def test_without_the_video_extra_mp4v_is_used_and_said(tmp_path, monkeypatch):
    monkeypatch.setattr(video_encode, "h264_available", lambda: False)
    writer = VideoWriter(tmp_path / "v.mp4", 5.0, (16, 16))
    assert writer.codec == "mp4v" and not writer.browser_playable
    writer.abort()
    with pytest.raises(RuntimeError, match=r"pebal\[video\]"):
        VideoWriter(tmp_path / "v.mp4", 5.0, (16, 16), codec="h264")
    assert "pip install 'pebal[video]'" in video_encode.FALLBACK_NOTE


def test_npy_stream_writer(tmp_path):
    rng = np.random.default_rng(0)
    slices = [rng.normal(size=(3, 5)).astype(np.float32) for _ in range(4)]
    with NpyStreamWriter(tmp_path / "s.npy") as w:
        for s in slices:
            w.append(s)
        assert not (tmp_path / "s.npy").exists()
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), np.stack(slices))
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy", mmap_mode="r")[2], slices[2])
    with pytest.raises(ValueError, match="shape"):
        with NpyStreamWriter(tmp_path / "t.npy") as w:
            w.append(slices[0])
            w.append(np.zeros((2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npy"]  # the failed one left nothing
