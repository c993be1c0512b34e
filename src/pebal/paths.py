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

#: The embedded benchmark a command uses when none is named: v3, the one with the real benchmarks'
#: difficulty. v1 and v2 stay reproducible by name (``--benchmark-version``, ``--preset embedded-v1``).
DEFAULT_BENCHMARK_VERSION = "3"

#: The shipped small DeepLabv3+ of each embedded benchmark version (model cards beside them):
#: v1's model, and the v3 model (trained on the v2 / v3 train split, which the two share).
SHIPPED_MODELS = {"1": "deeplabv3plus_small.safetensors", "2": "deeplabv3plus_small_v3.safetensors",
                  "3": "deeplabv3plus_small_v3.safetensors"}

#: The default model: the one of the default benchmark.
SHIPPED_MODEL = SHIPPED_MODELS[DEFAULT_BENCHMARK_VERSION]


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


def default_benchmark_root(version: str = DEFAULT_BENCHMARK_VERSION) -> Path:
    """Where the embedded benchmark of ``version`` is generated and reused by default:
    ``<cache>/synth`` for v1 (where it always lived), ``<cache>/synth-v<N>`` for the others."""
    version = str(version)
    return cache_dir() / ("synth" if version == "1" else f"synth-v{version}")


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
