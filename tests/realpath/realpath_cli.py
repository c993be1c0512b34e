"""Running ``pebal`` as a user does: ``python -m pebal ARGS`` in a folder of their choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_pebal(args: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m pebal ARGS`` in ``cwd`` (output captured as text); ``src/`` first on the path."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "pebal", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
