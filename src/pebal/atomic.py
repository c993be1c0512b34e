"""Atomic file writes: every file pebal produces (checkpoints, configs, results, images,
score maps) is written to a temporary file beside its target and renamed onto it, so a
reader — or a resumed run after a crash — never sees half a file. No torch import here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temporary_beside(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty hidden file in ``path``'s folder (created with it), for a writer that fills it
    and then calls :func:`move_into_place`; the same file system, so the rename is atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    return Path(tmp)


def open_temporary(path: str | os.PathLike) -> tuple[BinaryIO, Path]:
    """``(binary file open for writing, its name)``: a :func:`temporary_beside` ``path`` for a
    writer that streams into it (seeking allowed) before :func:`move_into_place`."""
    tmp = temporary_beside(path)
    return open(tmp, "r+b"), tmp


def move_into_place(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename the finished temporary ``tmp`` onto ``path``, with the permissions a plain
    ``open()`` would have given (mkstemp creates 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def write_atomically(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so a reader never sees half a file."""
    tmp = str(temporary_beside(path))
    try:
        write(tmp)
        move_into_place(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    write_atomically(path, lambda tmp: Path(tmp).write_bytes(data))


class TemporaryFileWriter:
    """The context-manager protocol of a writer that builds a temporary file and renames it into
    place: ``close()`` when the block ends normally, ``abort()`` (discard the temporary) when it
    raises. Subclasses implement both."""

    def close(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
