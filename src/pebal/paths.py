"""Where pebal finds its shipped files and keeps its cache, whatever the working directory.

* Shipped weights live inside the installed package (``pebal/weights/``), so a model named by
  :func:`shipped_weights` resolves the same from any folder and from a non-editable install.
* The cache (the generated embedded benchmark) lives in the user's cache folder by the
  platform's convention (``~/.cache/pebal`` on Linux, honouring ``XDG_CACHE_HOME``; the
  matching folders on macOS and Windows), overridable with the ``PEBAL_CACHE_DIR`` environment
  variable or, per command, with ``--set data.root=DIR`` / ``--root DIR``.

Every path returned here is absolute, so configs saved with a run record where things were.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Environment variable that moves the whole cache.
CACHE_ENV = "PEBAL_CACHE_DIR"

#: The shipped small DeepLabv3+ (trained on the embedded benchmark; see its MODEL_CARD.md).
SHIPPED_MODEL = "deeplabv3plus_small.safetensors"


def weights_dir() -> Path:
    """The folder of the shipped weights inside the installed package."""
    return Path(__file__).resolve().parent / "weights"


def shipped_weights(name: str = SHIPPED_MODEL) -> Path:
    """Absolute path of a shipped weights file; raises FileNotFoundError naming what exists."""
    path = weights_dir() / name
    if not path.is_file():
        found = sorted(p.name for p in weights_dir().glob("*.safetensors")) if weights_dir().is_dir() else []
        raise FileNotFoundError(
            f"shipped weights {name!r} not found in {weights_dir()} (found: {', '.join(found) or 'nothing'}); "
            "reinstall pebal or pass --checkpoint PATH"
        )
    return path


def cache_dir() -> Path:
    """The user's pebal cache folder (``$PEBAL_CACHE_DIR`` if set), absolute; not created here."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pebal", appauthor=False)).resolve()


def default_benchmark_root() -> Path:
    """Where the embedded benchmark is generated and reused by default."""
    return cache_dir() / "synth"


def absolute(path: str | os.PathLike) -> str:
    """``path`` made absolute (``~`` expanded), as recorded in configs and metadata."""
    return str(Path(path).expanduser().resolve())


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes (read in 4 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
