"""Video in, video out: frames read with OpenCV, predicted in batches, rendered frames written.

Frames are converted from OpenCV's BGR to RGB on reading. :func:`predict_video` writes one
video per rendering (overlay, heat map, final prediction) through
:class:`pebal.inference.video_encode.VideoWriter` (H.264 MP4 that browsers play, or mp4v
without the ``video`` extra) and, optionally, every frame's score map as one (T, H, W)
float32 ``.npy`` (:class:`pebal.inference.npy_stream.NpyStreamWriter`). Every file appears
under its name only when complete; on any error (an unreadable frame, non-finite scores)
none of them is left behind. The frame rate of the input is kept (25 fps when the container
does not say).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from pebal.errors import InputError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

#: Frame rate written when the input container reports none.
FALLBACK_FPS = 25.0


class VideoReadError(InputError):
    """A video file cannot be opened or yields no frames."""


def is_video(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a video file extension (see :data:`VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def video_properties(path: str | os.PathLike) -> dict:
    """``{"fps", "width", "height", "frames"}`` as the container reports them (frames may be 0)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoReadError(f"cannot open video {path}: OpenCV has no decoder for it or the file is corrupt")
        fps = capture.get(cv2.CAP_PROP_FPS)
        return {
            "fps": float(fps) if fps and np.isfinite(fps) and fps > 0 else FALLBACK_FPS,
            "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "frames": max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
        }
    finally:
        capture.release()


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Decode ``path`` frame by frame as uint8 RGB (H, W, 3).

    Raises :class:`VideoReadError` when the file cannot be opened or yields no frame at all.
    """
    import cv2

    path = Path(path)
    video_properties(path)  # clear errors for a missing or unopenable file
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
    if count == 0:
        raise VideoReadError(f"video {path} opened but no frame could be decoded (empty or corrupt file)")


#: Renderings a video prediction can write, by name: Prediction -> uint8 RGB frame.
RENDERERS: dict[str, Callable] = {
    "overlay": lambda p: p.overlay(),
    "final": lambda p: p.final_prediction(),
    "heatmap": lambda p: p.heatmap(),
}


class NonFiniteScoreError(ValueError):
    """A score map holds NaN or infinite values (corrupt weights or input)."""


def predict_video(predictor, source: str | os.PathLike, outputs: dict[str, str | os.PathLike],
                  on_prediction: Callable | None = None, scores: str | os.PathLike | None = None,
                  score_range: tuple[float, float] | None = None, codec: str = "auto") -> dict:
    """Predict every frame of ``source`` and write one video per entry of ``outputs``.

    Args:
        predictor: a :class:`pebal.inference.predictor.Predictor` (frames go through ``predict_stream`` in
            batches of its ``batch_size``).
        outputs: ``{renderer name: output path}``, names from :data:`RENDERERS`.
        on_prediction: called with ``(frame_index, prediction)`` for each frame, e.g. to keep
            the first frame's pictures.
        scores: where to write every frame's score map, (T, H, W) float32 ``.npy``; None: not kept.
        score_range: heat-map scale of every frame; None: the predictor's, else the robust
            range of the first frame (one scale for the whole clip, so colours stay comparable).
        codec: see :class:`pebal.inference.video_encode.VideoWriter`.

    Raises :class:`NonFiniteScoreError` naming the first frame whose scores are not finite.
    Returns ``{"frames", "fps", "width", "height", "codec", "score_range", "score_min",
    "score_max", "score_mean" (over all frames), "score_max_per_frame",
    "anomalous_fraction_per_frame" (None without a threshold)}``.
    """
    from pebal.inference import render
    from pebal.inference.npy_stream import NpyStreamWriter
    from pebal.inference.video_encode import VideoWriter

    unknown = sorted(set(outputs) - set(RENDERERS))
    if unknown:
        raise ValueError(f"unknown video renderings {unknown}; valid: {sorted(RENDERERS)}")
    props = video_properties(source)
    writers: dict = {}
    stats = {"frames": 0, "fps": props["fps"], "width": None, "height": None, "codec": None,
             "score_range": None, "score_min": None, "score_max": None, "score_mean": None,
             "score_max_per_frame": [], "anomalous_fraction_per_frame": []}
    total, low, high = 0.0, np.inf, -np.inf
    frames = ((f"frame{i:06d}", frame) for i, frame in enumerate(read_frames(source)))
    try:
        for index, prediction in enumerate(predictor.predict_stream(frames)):
            bad = prediction.non_finite()
            if bad:
                raise NonFiniteScoreError(f"{source}: frame {index} has {bad} non-finite score values (NaN / Inf) "
                                          f"of {prediction.score.size}; the checkpoint's weights may be corrupt")
            if not writers:
                h, w = prediction.score.shape
                stats["height"], stats["width"] = h, w
                if score_range is None:
                    score_range = prediction.score_range or render.robust_range(prediction.score)
                stats["score_range"] = [float(v) for v in render.check_score_range(score_range)]
                if scores is not None:
                    writers["scores"] = NpyStreamWriter(scores, np.float32)
                for name, path in outputs.items():
                    writers[name] = VideoWriter(path, props["fps"], (h, w), codec=codec)
                stats["codec"] = next((wr.codec for k, wr in writers.items() if k != "scores"), None)
            prediction.score_range = tuple(stats["score_range"])
            for name, writer in writers.items():
                if name == "scores":
                    writer.append(prediction.score)
                else:
                    writer.write(RENDERERS[name](prediction))
            mask = prediction.mask
            frame_max = float(prediction.score.max())
            stats["score_max_per_frame"].append(frame_max)
            stats["anomalous_fraction_per_frame"].append(None if mask is None else float(mask.mean()))
            total += float(prediction.score.mean(dtype=np.float64))
            low, high = min(low, float(prediction.score.min())), max(high, frame_max)
            stats["frames"] = index + 1
            if on_prediction is not None:
                on_prediction(index, prediction)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for writer in writers.values():
        writer.close()
    if stats["frames"]:
        stats.update(score_min=low, score_max=high, score_mean=total / stats["frames"])
    return stats
