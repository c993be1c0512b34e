"""Which files of a benchmark folder the cache wrote: the ledger, and what may be deleted.

``.synth-files.jsonl`` holds one JSON object per line:

* ``{"intent": [rel, ...]}`` — written *before* rendering those files: a run killed while
  rendering leaves files the ledger still owns (and re-renders them, as their hash is unknown);
* ``{"file": rel, "sha256": hex, "size": bytes}`` — written after the file was renamed into place.

A torn last line (a kill while appending) is ignored; it can only be an intention whose files
were not rendered yet, or a record whose file is then re-rendered. :func:`foreign_files` lists
what in the generated folders is neither recorded nor one of the cache's own metadata or
temporary files; :func:`delete_owned` deletes recorded files only, and then the folders that
became empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from pebal.atomic import write_bytes_atomically
from pebal.data.synthetic.scene import TEST_SETS

#: The folders the cache writes into (anything else under ``root`` is never touched).
MANAGED = ("inlier", "outlier_exposure", "test")
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]+\.tmp$")  # pebal.atomic's temporary names
_TEMPORARY_MAX_AGE_S = 3600

Record = tuple[str, int | None] | None  # (sha256, size) of a written file; None: intended only


def read_json(path: Path):
    """The JSON document at ``path``, or None if it is missing or not valid JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Ledger:
    """The append-only record of the files the cache wrote under one root."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Record]:
        records: dict[str, Record] = {}
        if not self.path.is_file():
            return records
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry.get("intent"), list):
                for rel in entry["intent"]:
                    records.setdefault(str(rel), None)
            elif isinstance(entry.get("file"), str):
                records[entry["file"]] = (str(entry.get("sha256")), entry.get("size"))
        return records

    def rewrite(self, records: dict[str, Record]) -> None:
        """Replace the ledger (atomically) by exactly ``records``; drops a torn last line."""
        lines = [json.dumps({"intent": sorted(rel for rel, rec in records.items() if rec is None)})]
        lines += [json.dumps({"file": rel, "sha256": rec[0], "size": rec[1]})
                  for rel, rec in sorted(records.items()) if rec is not None]
        write_bytes_atomically(self.path, ("\n".join(lines) + "\n").encode())

    def _append(self, entries: list[dict]) -> None:
        with open(self.path, "a") as handle:
            handle.write("".join(json.dumps(e) + "\n" for e in entries))
            handle.flush()

    def intend(self, rels: list[str]) -> None:
        if rels:
            self._append([{"intent": rels}])

    def record(self, records: dict[str, tuple[str, int]]) -> None:
        self._append([{"file": rel, "sha256": sha, "size": size} for rel, (sha, size) in records.items()])


def file_state(path: Path, record: Record, verify: bool = False) -> str:
    """``"ok"``, ``"missing"``, ``"unrecorded"`` (no hash known), or what is damaged
    (``"8162 bytes, recorded 16324"``, ``"sha256 differs"``).

    The size is always compared; the SHA-256 with ``verify``, or when no size is recorded."""
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    if record is None:
        return "unrecorded"
    sha, recorded = record
    if recorded is not None and size != recorded:
        return f"{size} bytes, recorded {recorded}"
    if (verify or recorded is None) and hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        return "sha256 differs"
    return "ok"


def _metadata(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 3 and parts[0] == "test" and parts[1] in TEST_SETS and parts[2] == "anomalies.json"


def _our_temporary(rel: str, owned: set[str]) -> bool:
    folder, _, name = rel.rpartition("/")
    match = _TEMPORARY.match(name)
    if match is None:
        return False
    target = f"{folder}/{match['target']}" if folder else match["target"]
    return target in owned or _metadata(target)


def foreign_files(root: Path, owned: set[str]) -> list[str]:
    """Paths (relative to ``root``) in the generated folders that the cache did not write:
    neither recorded in ``owned``, nor ``test/<set>/anomalies.json``, nor a temporary of those.
    Symbolic links and anything that is not a plain file or folder count as foreign."""
    found: list[str] = []
    for name in MANAGED:
        base = root / name
        if base.is_symlink() or (base.exists() and not base.is_dir()):
            found.append(name)
            continue
        for folder, dirs, files in os.walk(base):
            rel_folder = Path(folder).relative_to(root).as_posix()
            for d in dirs:
                if os.path.islink(os.path.join(folder, d)):
                    found.append(f"{rel_folder}/{d}")
            for f in files:
                rel = f"{rel_folder}/{f}"
                path = os.path.join(folder, f)
                if os.path.islink(path) or not os.path.isfile(path):
                    found.append(rel)
                elif rel not in owned and not _metadata(rel) and not _our_temporary(rel, owned):
                    found.append(rel)
    return sorted(found)


def delete_owned(root: Path, records: dict[str, Record]) -> None:
    """Delete the recorded files under ``root``, then the folders this left empty (up to the
    generated folders themselves); a folder holding anything else stays."""
    parents: set[Path] = set()
    for rel in records:
        path = root / rel
        if path.is_file() and not path.is_symlink():
            path.unlink()
            parents.add(path.parent)
    stops = {root / name for name in MANAGED} | {root}
    for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while folder not in stops and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty
                break
            folder = folder.parent


def old_temporaries(root: Path, owned: set[str]) -> list[Path]:
    """The cache's own temporary files under the generated folders older than an hour."""
    now, found = time.time(), []
    for name in MANAGED:
        for folder, _, files in os.walk(root / name):
            for f in files:
                path = Path(folder) / f
                rel = path.relative_to(root).as_posix()
                if _our_temporary(rel, owned) and now - path.stat().st_mtime > _TEMPORARY_MAX_AGE_S:
                    found.append(path)
    return found
