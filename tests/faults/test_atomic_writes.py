"""No module of the package writes a file in place: every write goes to a temporary name that
is renamed when complete (:mod:`pebal.atomic`), so a kill never leaves half a file.

The scan reads every call that writes a file (``write_text``, ``write_bytes``, ``open(.., "w")``,
``savefig``, ``np.save``, ``torch.save``, ``copyfile``, ``onnx.save``, ``cv2.VideoWriter``,
``h5py.File(.., "w")``) and accepts it only when its target is a temporary (an expression that
names ``tmp``) or an in-memory buffer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pebal

PACKAGE = Path(pebal.__file__).parent
#: Writes that are not atomic on purpose: {(file, call): why}.
ALLOWED = {
    ("data/synthetic/ledger.py", "open"): "the append-only ledger; a torn last line is ignored by design",
    ("data/synthetic/cache.py", "open"): "the lock file (opened for appending, never written)",
    ("inference/output_folder.py", "open"): "predict's append-only journal; a torn last line is ignored on resume",
}
_WRITE_MODES = ("w", "a", "x")


def _text(node: ast.AST) -> str:
    return ast.unparse(node)


def _target(call: ast.Call) -> tuple[str, ast.AST | None] | None:
    """(the call's name, the written target) when ``call`` writes a file, else None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    args = call.args
    mode = next((a.value for a in args[1:2] if isinstance(a, ast.Constant)), None)
    mode = next((k.value.value for k in call.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)), mode)
    if name in ("write_text", "write_bytes") and isinstance(func, ast.Attribute):
        return name, func.value
    if name == "open" and isinstance(mode, str) and any(m in mode for m in _WRITE_MODES):
        return name, args[0] if args else None
    if name == "File" and isinstance(mode, str) and any(m in mode for m in _WRITE_MODES):
        return name, args[0] if args else None
    if name == "savefig":
        return name, args[0] if args else None
    if name == "save" and isinstance(func, ast.Attribute) and _text(func.value) in ("np", "numpy", "onnx"):
        return name, args[1] if _text(func.value) == "onnx" and len(args) > 1 else (args[0] if args else None)
    if name == "save" and isinstance(func, ast.Attribute) and _text(func.value) == "torch":
        return name, args[1] if len(args) > 1 else None
    if name in ("copyfile", "copy", "copy2") and isinstance(func, ast.Attribute) and _text(func.value) == "shutil":
        return name, args[1] if len(args) > 1 else None
    if name == "VideoWriter" and isinstance(func, ast.Attribute) and _text(func.value) == "cv2":
        return name, args[0] if args else None
    return None


def _unsafe_writes() -> list[tuple[str, str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            hit = _target(node)
            if hit is None:
                continue
            name, target = hit
            text = "" if target is None else _text(target)
            if "tmp" in text or "buffer" in text or text in ("f", "handle"):  # a temporary, or a handle opened on one
                continue
            found.append((rel, name, node.lineno, text))
    return found


def test_every_write_goes_through_a_temporary_name():
    bad = [w for w in _unsafe_writes() if (w[0], w[1]) not in ALLOWED]
    assert not bad, "files written in place (use pebal.atomic.write_atomically):\n" + "\n".join(
        f"  {rel}:{line} {name}({target})" for rel, name, line, target in bad)


def test_streamed_files_get_the_permissions_of_a_plain_open(tmp_path):
    """mkstemp creates 0600; a score stream or a video must be readable like any written file."""
    import os

    import numpy as np

    from pebal.atomic import write_bytes_atomically
    from pebal.inference.npy_stream import NpyStreamWriter
    from pebal.inference.video_encode import VideoWriter

    umask = os.umask(0o022)
    try:
        with NpyStreamWriter(tmp_path / "scores.npy") as stream:
            stream.append(np.ones((3, 4)))
        with VideoWriter(tmp_path / "clip.mp4", 5, (32, 48), codec="mp4v") as video:
            video.write(np.zeros((32, 48, 3), np.uint8))
        write_bytes_atomically(tmp_path / "plain.bin", b"x")
    finally:
        os.umask(umask)
    for name in ("scores.npy", "clip.mp4", "plain.bin"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "plain.bin", "scores.npy"]  # no temporaries left
