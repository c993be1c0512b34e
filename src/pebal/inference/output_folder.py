"""The output folder of ``pebal predict``: a journal of what was written, resume, and refusal.

The folder holds a hidden, append-only journal (:data:`JOURNAL`, one JSON object a line,
flushed and fsynced after each line)::

    {"event": "run", "settings": {...}}                       the settings of the predictions
    {"event": "range", "score_range": [low, high]}            a heat-map scale fitted to the data
    {"event": "start", "name": N, "files": [...]}             before any file of input N is written
    {"event": "done", "record": {...}}                        after all of them are (files, statistics)
    {"event": "failed", "name": N, "reason": "..."}           N's files were removed again

so the journal always knows every file pebal may have put there. The rules
(:func:`open_output_folder`):

* a missing or empty folder starts a new journal;
* a folder with files that no journal lists (a user's own files, an older pebal's output)
  is refused, with or without ``overwrite``: pebal never deletes what it did not write;
* a journal with the **same settings** is resumed: finished inputs whose input file is
  unchanged (path, size, modification time) are kept and skipped, the half-written files
  of an interrupted input and stale temporary files are removed, and the index lists every
  finished input, also those of earlier runs that this run was not given;
* a journal with **other settings** (checkpoint content, threshold, heat-map scale, colormap,
  window, score maps on or off) is refused naming the differences, unless ``overwrite``,
  which removes the files the journal lists and starts afresh.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pebal.atomic import write_bytes_atomically

#: The journal's file name inside the output folder.
JOURNAL = ".pebal-predict.jsonl"

#: Files describing the whole folder, rewritten as the run goes.
INDEX_FILES = ("predictions.json", "index.html", "colorbar.png")


class OutputFolderError(ValueError):
    """The output folder cannot be used as asked (foreign files, other settings)."""


def dumps(value) -> str:
    """Standard JSON (no NaN / Infinity: a ValueError names the problem instead)."""
    return json.dumps(value, allow_nan=False)


def _all_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _is_temporary(relative: str, known: set[str]) -> bool:
    """A pebal temporary file of a known target: ``.NAME.XXXX.tmp`` / ``.NAME.XXXX.partial.mp4``."""
    parent, _, base = relative.rpartition("/")
    if not base.startswith(".") or not base.endswith((".tmp", ".partial.mp4")):
        return False
    target_name = base[1:].rsplit(".", 2 if base.endswith(".tmp") else 3)[0]
    target = f"{parent}/{target_name}" if parent else target_name
    return target in known


class Journal:
    """The state of one output folder (see the module docstring)."""

    def __init__(self, folder: Path, settings: dict) -> None:
        self.folder = folder
        self.path = folder / JOURNAL
        self.settings = settings
        self.done: dict[str, dict] = {}
        self.planned: dict[str, list[str]] = {}
        self.fitted_range: list[float] | None = None
        self.resumed = 0

    # -- reading --------------------------------------------------------------------------------

    @classmethod
    def read(cls, folder: Path) -> Journal:
        lines = (folder / JOURNAL).read_text(encoding="utf-8").splitlines()
        journal = None
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # the last line of a killed run may be cut short
                    break
                raise OutputFolderError(f"{folder / JOURNAL}: line {number} is not JSON; the journal is damaged, "
                                        "choose another --out") from None
            kind = event.get("event")
            if kind == "run":
                journal = cls(folder, event["settings"])
            elif journal is None:
                raise OutputFolderError(f"{folder / JOURNAL}: does not start with a run line; choose another --out")
            elif kind == "range":
                journal.fitted_range = event["score_range"]
            elif kind == "start":
                journal.planned[event["name"]] = event["files"]
                journal.done.pop(event["name"], None)
            elif kind == "done":
                journal.done[event["record"]["name"]] = event["record"]
            elif kind == "failed":
                journal.done.pop(event["name"], None)
        if journal is None:
            raise OutputFolderError(f"{folder / JOURNAL} is empty; choose another --out")
        return journal

    def known_files(self) -> set[str]:
        files = {JOURNAL, *INDEX_FILES}
        for names in self.planned.values():
            files.update(names)
        return files

    # -- writing --------------------------------------------------------------------------------

    def _append(self, event: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(dumps(event) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def start_new(self) -> None:
        # the first line appears whole or not at all; later events are appended (_append)
        write_bytes_atomically(self.path, (dumps({"event": "run", "settings": self.settings}) + "\n").encode())

    def record_range(self, score_range) -> None:
        self.fitted_range = [float(v) for v in score_range]
        self._append({"event": "range", "score_range": self.fitted_range})

    def start(self, name: str, files: list[str]) -> None:
        self.planned[name] = sorted(set(self.planned.get(name, [])) | set(files))
        self.done.pop(name, None)
        self._append({"event": "start", "name": name, "files": self.planned[name]})

    def finish(self, record: dict) -> None:
        self._append({"event": "done", "record": record})
        self.done[record["name"]] = record

    def fail(self, name: str, reason: str) -> None:
        self.remove_files(name)
        self.done.pop(name, None)
        self._append({"event": "failed", "name": name, "reason": reason})

    def remove_files(self, *names: str) -> None:
        """Delete the files (and pebal temporaries) inputs ``names`` may have written (one listing)."""
        planned = {f for name in names for f in self.planned.get(name, [])}
        if not planned:
            return
        for relative in planned:
            (self.folder / relative).unlink(missing_ok=True)
        for relative in _all_files(self.folder):
            if _is_temporary(relative, planned):
                (self.folder / relative).unlink(missing_ok=True)

    def is_current(self, name: str, signature: dict) -> bool:
        """Whether ``name`` was finished from the same input file and its files are all there."""
        record = self.done.get(name)
        if record is None or record.get("source") != signature:
            return False
        return all((self.folder / f).is_file() for f in record["files"].values())


def _differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys if old.get(k) != new.get(k)]


def open_output_folder(folder: str | os.PathLike, settings: dict, overwrite: bool = False) -> Journal:
    """Start or resume the journal of ``folder`` under ``settings`` (see the module docstring)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"--out {folder} is a file, expected a folder")
    files = _all_files(folder) if folder.is_dir() else []
    if JOURNAL not in files:
        visible = [f for f in files if not Path(f).name.startswith(".")]  # e.g. .DS_Store is no content
        if visible:
            shown = ", ".join(visible[:3]) + (" ..." if len(visible) > 3 else "")
            raise OutputFolderError(f"--out {folder} holds {len(visible)} file(s) that pebal predict did not write "
                                    f"({shown}); choose an empty or new folder")
        journal = Journal(folder, settings)
        journal.start_new()
        return journal
    journal = Journal.read(folder)
    known = journal.known_files()
    foreign = [f for f in files if f not in known and not _is_temporary(f, known)
               and not Path(f).name.startswith(".")]
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise OutputFolderError(f"--out {folder} holds {len(foreign)} file(s) that pebal predict did not write "
                                f"({shown}); move them away or choose another folder")
    if journal.settings != settings:
        if not overwrite:
            raise OutputFolderError(
                f"--out {folder} holds predictions made with other settings ("
                + "; ".join(_differences(journal.settings, settings))
                + "); pass --overwrite to replace them (only files pebal wrote are removed) or choose another --out")
        journal.remove_files(*journal.planned)
        for relative in INDEX_FILES:
            (folder / relative).unlink(missing_ok=True)
        journal = Journal(folder, settings)
        journal.start_new()
        return journal
    # same settings: drop what an interrupted input left half-written, keep what is finished
    journal.remove_files(*(name for name in journal.planned if name not in journal.done))
    for relative in files:
        if _is_temporary(relative, known):
            (folder / relative).unlink(missing_ok=True)
    return journal
