"""Video in, video out: frames read with OpenCV, predicted in batches, rendered frames written.

Frames are converted from OpenCV's BGR to RGB on reading and back on writing. Output videos
use the ``mp4v`` (MPEG-4 part 2) codec that every OpenCV build can write; browsers may not
play it, desktop players (VLC, mpv, ffplay) do. The frame rate of the input is kept (25 fps
when the container does not say).
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


class VideoWriter:
    """Write uint8 RGB frames (H, W, 3) of one size to an ``mp4v`` video; use as a context manager."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        import cv2

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.height, self.width = int(size[0]), int(size[1])
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                       (self.width, self.height))
        if not self._writer.isOpened():
            raise OSError(f"cannot write video {self.path}: OpenCV could not open an mp4v writer")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame {self.frames} is {frame.dtype} {frame.shape}, "
                             f"expected uint8 {(self.height, self.width, 3)}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        self._writer.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Renderings a video prediction can write, by name: Prediction -> uint8 RGB frame.
RENDERERS: dict[str, Callable] = {
    "overlay": lambda p: p.overlay(),
    "final": lambda p: p.final_prediction(),
    "heatmap": lambda p: p.heatmap(),
}


def predict_video(predictor, source: str | os.PathLike, outputs: dict[str, str | os.PathLike],
                  on_prediction: Callable | None = None) -> dict:
    """Predict every frame of ``source`` and write one video per entry of ``outputs``.

    Args:
        predictor: a :class:`pebal.inference.predictor.Predictor` (frames go through ``predict_stream`` in
            batches of its ``batch_size``).
        outputs: ``{renderer name: output path}``, names from :data:`RENDERERS`.
        on_prediction: called with ``(frame_index, prediction)`` for each frame, e.g. to keep
            the first frame's pictures.

    Returns ``{"frames", "fps", "width", "height", "score_max" (per frame), "anomalous_fraction"
    (per frame, None without a threshold)}``.
    """
    unknown = sorted(set(outputs) - set(RENDERERS))
    if unknown:
        raise ValueError(f"unknown video renderings {unknown}; valid: {sorted(RENDERERS)}")
    props = video_properties(source)
    writers: dict[str, VideoWriter] = {}
    stats = {"frames": 0, "fps": props["fps"], "width": None, "height": None,
             "score_max": [], "anomalous_fraction": []}
    frames = ((f"frame{i:06d}", frame) for i, frame in enumerate(read_frames(source)))
    try:
        for index, prediction in enumerate(predictor.predict_stream(frames)):
            if not writers:
                h, w = prediction.score.shape
                stats["height"], stats["width"] = h, w
                writers = {name: VideoWriter(path, props["fps"], (h, w)) for name, path in outputs.items()}
            for name, writer in writers.items():
                writer.write(RENDERERS[name](prediction))
            mask = prediction.mask
            stats["score_max"].append(float(prediction.score.max()))
            stats["anomalous_fraction"].append(None if mask is None else float(mask.mean()))
            stats["frames"] = index + 1
            if on_prediction is not None:
                on_prediction(index, prediction)
    finally:
        for writer in writers.values():
            writer.close()
    return stats
