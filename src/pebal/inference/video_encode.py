"""Writing videos that browsers play: H.264 in MP4 through imageio-ffmpeg's bundled ffmpeg.

The ``video`` extra (``pip install "pebal[video]"``, part of ``[all]``) brings
`imageio-ffmpeg`, whose wheels ship an ffmpeg binary with the libx264 encoder, so H.264 /
yuv420p MP4 files (``+faststart``: playable while loading) come out on every platform with
no system ffmpeg. Without it, :class:`VideoWriter` falls back to OpenCV's ``mp4v`` (MPEG-4
part 2), which desktop players (VLC, mpv) play but browsers do not; :attr:`VideoWriter.codec`
and :func:`h264_available` say which one was used, and ``pebal predict`` says so in the
console and the gallery.

Every video is written to a hidden temporary name beside its target (``.NAME.XXXX.partial.mp4``)
and renamed onto the target only when complete; :meth:`VideoWriter.abort` (or an exception
inside the ``with`` block) removes the temporary file. Both codecs need even sizes (yuv420p;
OpenCV's mp4v silently crops an odd size): an odd height or width is padded by repeating the
last row or column (the video is then one pixel larger than the frames;
:attr:`VideoWriter.padded` says so).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from pebal.atomic import TemporaryFileWriter, move_into_place, temporary_beside

#: x264 constant rate factor (lower = better; 18 is visually lossless for these pictures).
H264_CRF = 18

#: Why a video is not H.264, shown to the user when the fallback is taken.
FALLBACK_NOTE = ("videos are mp4v (plays in VLC / mpv, not in browsers): install the video extra, "
                 "pip install 'pebal[video]' (imageio-ffmpeg), for H.264 that browsers play")


@lru_cache(maxsize=1)
def h264_available() -> bool:
    """Whether imageio-ffmpeg and its bundled ffmpeg binary are there (checked once)."""
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        return False


class VideoWriter(TemporaryFileWriter):
    """Write uint8 RGB frames (H, W, 3) of one size to an MP4; a context manager.

    Args:
        path: the target file (``.mp4``).
        fps: frame rate.
        size: (height, width) of every frame.
        codec: ``"auto"`` (H.264 when :func:`h264_available`, else mp4v), ``"h264"`` or ``"mp4v"``.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], codec: str = "auto") -> None:
        if codec not in ("auto", "h264", "mp4v"):
            raise ValueError(f"codec must be 'auto', 'h264' or 'mp4v', got {codec!r}")
        if codec == "auto":
            codec = "h264" if h264_available() else "mp4v"
        elif codec == "h264" and not h264_available():
            raise RuntimeError("H.264 needs imageio-ffmpeg: pip install 'pebal[video]'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.codec = codec
        self.height, self.width = int(size[0]), int(size[1])
        self.padded = bool(self.height % 2 or self.width % 2)
        self.frames = 0
        self.tmp = temporary_beside(self.path, suffix=".partial.mp4")
        self._done = False
        try:
            self._open(float(fps))
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise

    @property
    def browser_playable(self) -> bool:
        return self.codec == "h264"

    def _open(self, fps: float) -> None:
        out_w, out_h = self.width + self.width % 2, self.height + self.height % 2
        if self.codec == "h264":
            import imageio_ffmpeg

            self._gen = imageio_ffmpeg.write_frames(
                str(self.tmp), (out_w, out_h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p", quality=None, macro_block_size=1, ffmpeg_log_level="error",
                output_params=["-crf", str(H264_CRF), "-preset", "veryfast", "-movflags", "+faststart"],
            )
            self._gen.send(None)  # start ffmpeg
        else:
            import cv2

            self._cv = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (out_w, out_h))
            if not self._cv.isOpened():
                raise OSError(f"cannot write video {self.path}: OpenCV could not open an mp4v writer")

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame (H, W, 3) of the writer's size."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame {self.frames} is {frame.dtype} {frame.shape}, "
                             f"expected uint8 {(self.height, self.width, 3)}")
        if self.padded:
            frame = np.pad(frame, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        if self.codec == "h264":
            self._gen.send(np.ascontiguousarray(frame))
        else:
            import cv2

            self._cv.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def _finish_encoder(self) -> None:
        if self.codec == "h264":
            self._gen.close()
        else:
            self._cv.release()

    def close(self) -> Path:
        """Finish the file and rename it onto the target; returns the target path."""
        if self._done:
            return self.path
        self._done = True
        try:
            self._finish_encoder()
            if self.frames == 0:
                raise ValueError(f"{self.path}: no frame was written")
            move_into_place(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file; the target is left as it was."""
        if self._done:
            return
        self._done = True
        try:
            self._finish_encoder()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass
        self.tmp.unlink(missing_ok=True)
