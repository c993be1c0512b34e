"""A ``.npy`` file of shape (T, H, W) written one (H, W) slice at a time, atomically.

A video's score maps do not fit in memory for long clips, and their number is known only at
the end (containers may misreport frame counts). :class:`NpyStreamWriter` writes the slices
to a hidden temporary file behind a header of fixed size (:data:`HEADER_BYTES`, format 1.0,
space-padded as the format allows), rewrites the header with the final ``T`` when closed and
renames the file onto its target. The result is an ordinary ``.npy``: ``np.load(path)`` or
``np.load(path, mmap_mode="r")`` to read frames without loading the whole clip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pebal.atomic import TemporaryFileWriter, move_into_place, open_temporary

#: Size of the header (magic, version, length, dict): room for any realistic shape.
HEADER_BYTES = 128


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A format-1.0 header of exactly :data:`HEADER_BYTES` bytes."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    room = HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    body = text.ljust(room - 1) + "\n"
    if len(body) != room:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + room.to_bytes(2, "little") + body.encode("latin1")


class NpyStreamWriter(TemporaryFileWriter):
    """Append (H, W) arrays of one shape and dtype; ``close()`` gives a (T, H, W) ``.npy`` at ``path``."""

    def __init__(self, path: str | os.PathLike, dtype=np.float32) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self.frame_shape: tuple[int, ...] | None = None
        self.count = 0
        self._file, self.tmp = open_temporary(self.path)
        self._file.write(b"\0" * HEADER_BYTES)
        self._done = False

    def append(self, array: np.ndarray) -> None:
        """Add one slice; every slice must have the first slice's shape."""
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if self.frame_shape is None:
            self.frame_shape = tuple(int(v) for v in array.shape)
        elif array.shape != self.frame_shape:
            raise ValueError(f"{self.path}: slice {self.count} has shape {array.shape}, "
                             f"expected {self.frame_shape} like the first")
        self._file.write(array.tobytes())
        self.count += 1

    def close(self) -> Path:
        """Write the final header and rename onto ``path``; at least one slice is required."""
        if self._done:
            return self.path
        self._done = True
        try:
            if self.count == 0:
                raise ValueError(f"{self.path}: no slice was written")
            self._file.seek(0)
            self._file.write(_header(self.dtype, (self.count, *self.frame_shape)))
            self._file.close()
            move_into_place(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard the temporary file."""
        self._done = True
        if not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)
