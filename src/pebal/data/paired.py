"""The common machinery of the benchmark loaders: a list of (image, label) files read lazily.

A loader module finds its files with a ``scan_*`` function returning a :class:`Scan` (what was
found, what could not be paired) and wraps the pairs in a :class:`PairedDataset`, which reads
a file only in ``__getitem__``. Each label file carries a **label table**: a ``(256,)``
``int16`` array mapping on-disk values to the project's values, ``-1`` for a value that is
not part of the encoding (reading a label with such a value is an error; ``pebal data check``
reports them). The same scan is what ``pebal data check`` inspects, so a data set and its
check never disagree about which files belong to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pebal.data.image_io import IMAGE_EXTENSIONS, read_image, read_label

#: value of a label table for an on-disk value outside the data set's encoding
NOT_IN_ENCODING = -1


def label_table(mapping: Mapping[int | range, int]) -> np.ndarray:
    """A ``(256,)`` int16 table from ``{on-disk value or range: project value}``; others -1."""
    table = np.full(256, NOT_IN_ENCODING, dtype=np.int16)
    for raw, new in mapping.items():
        values = raw if isinstance(raw, range) else [raw]
        for v in values:
            if not (0 <= v <= 255 and 0 <= new <= 255):
                raise ValueError(f"label table entries map 0..255 to 0..255, got {v} -> {new}")
            table[v] = new
    table.setflags(write=False)
    return table


#: Anomaly benchmarks already in the project convention: 0 inlier, 1 anomaly, 255 void.
EVAL_TABLE = label_table({0: 0, 1: 1, 255: 255})


@dataclass(frozen=True)
class Sample:
    """One item on disk: its name, image file, label file (``None``: hidden or not a file) and
    label table; ``annotation`` is what a loader decodes instead of a label file (COCO's
    polygons and RLE), else ``None``."""

    name: str
    image: Path
    label: Path | None
    table: np.ndarray | None = None
    annotation: object = None


@dataclass
class Scan:
    """What a loader found under its root.

    ``unmatched_images`` are images whose label is missing (where labels are expected),
    ``unmatched_labels`` labels without an image, ``missing_files`` files that an index
    (a frame list, a COCO annotation file) names but that are not on disk; ``notes`` are
    remarks for the user; ``label_convention`` names the label encoding where a data set
    offers several (LostAndFound).
    """

    root: Path
    samples: list[Sample] = field(default_factory=list)
    unmatched_images: list[Path] = field(default_factory=list)
    unmatched_labels: list[Path] = field(default_factory=list)
    missing_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label_convention: str | None = None

    def require_complete(self, what: str) -> None:
        """Raise if anything is unpaired or nothing was found; the message says what to do."""
        parts = []
        if self.unmatched_images:
            parts.append(f"{len(self.unmatched_images)} image(s) without a label (e.g. "
                         f"{', '.join(str(p) for p in self.unmatched_images[:3])})")
        if self.unmatched_labels:
            parts.append(f"{len(self.unmatched_labels)} label(s) without an image (e.g. "
                         f"{', '.join(str(p) for p in self.unmatched_labels[:3])})")
        if self.missing_files:
            parts.append(f"{len(self.missing_files)} listed file(s) missing (e.g. "
                         f"{', '.join(str(p) for p in self.missing_files[:3])})")
        if parts:
            raise ValueError(f"{what} under {self.root}: " + "; ".join(parts)
                             + ". Run `pebal data check` for the full list.")
        if not self.samples:
            hint = f" ({'; '.join(self.notes)})" if self.notes else ""
            raise FileNotFoundError(f"{what}: no images found under {self.root}{hint}")


def list_files(folder: Path, suffix: str, extensions: Iterable[str] = IMAGE_EXTENSIONS,
               recursive: bool = False) -> dict[str, Path]:
    """``{key: path}`` for files named ``<key><suffix><ext>`` in ``folder``.

    ``key`` is the path relative to ``folder`` without suffix and extension (so nested
    folders give keys like ``city/frame``). Hidden files are skipped.
    """
    if not folder.is_dir():
        return {}
    extensions = tuple(e.lower() for e in extensions)
    found: dict[str, Path] = {}
    paths = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(paths):
        if path.name.startswith(".") or path.suffix.lower() not in extensions or not path.is_file():
            continue
        stem = path.name[: -len(path.suffix)]
        if not stem.endswith(suffix):
            continue
        key = str(path.relative_to(folder).with_name(stem[: len(stem) - len(suffix)] if suffix else stem))
        if key in found:
            raise ValueError(f"two files for {key!r} in {folder}: {found[key].name} and {path.name}")
        found[key] = path
    return found


def pair_files(scan: Scan, images: Mapping[str, Path], labels: Mapping[str, Path],
               table: np.ndarray, name=lambda key: key, labels_required: bool = True) -> Scan:
    """Pair ``images`` and ``labels`` by key into ``scan`` (sorted by key)."""
    for key in sorted(images):
        label = labels.get(key)
        if label is None and labels_required:
            scan.unmatched_images.append(images[key])
            continue
        scan.samples.append(Sample(name(key), images[key], label, table))
    scan.unmatched_labels.extend(labels[k] for k in sorted(set(labels) - set(images)))
    return scan


def scan_stem_folders(root: str | os.PathLike, images: str, labels: str, label_suffix: str = "",
                      table: np.ndarray = EVAL_TABLE, labels_required: bool = True) -> Scan:
    """Scan ``root/images/<stem>.<ext>`` paired with ``root/labels/<stem><label_suffix>.png``."""
    root = Path(root)
    scan = Scan(root)
    image_dir, label_dir = root / images, root / labels
    if not image_dir.is_dir():
        scan.notes.append(f"image folder {image_dir} is missing")
    if not label_dir.is_dir() and labels_required:
        scan.notes.append(f"label folder {label_dir} is missing")
    return pair_files(scan, list_files(image_dir, ""), list_files(label_dir, label_suffix, (".png",)),
                      table, labels_required=labels_required)


class PairedDataset:
    """A sized, indexable data set over the samples of a :class:`Scan`; files read on access.

    Item ``i``: ``{"image": uint8 (H, W, 3) RGB, "label": uint8 (H, W) or None (hidden test
    labels), "name": str}``; the label already in the project's convention.
    """

    def __init__(self, scan: Scan, description: str) -> None:
        scan.require_complete(description)
        self.scan = scan
        self.root = scan.root
        self.description = description
        self.samples = scan.samples
        self.names = [s.name for s in scan.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def paths(self, index: int) -> tuple[Path, Path | None]:
        """(image path, label path or None) of item ``index``."""
        s = self.samples[index]
        return s.image, s.label

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for the {len(self)} items of {self.description}")
        sample = self.samples[index]
        image = read_image(sample.image)
        label = None
        if sample.label is not None:
            label = convert_label(read_label(sample.label), sample.table, sample.label, self.description)
            if label.shape != image.shape[:2]:
                raise ValueError(
                    f"size mismatch: label {sample.label} is {label.shape[1]}x{label.shape[0]} but image "
                    f"{sample.image} is {image.shape[1]}x{image.shape[0]} (width x height)"
                )
        return {"image": image, "label": label, "name": sample.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {len(self)} items)"


def present_values(raw: np.ndarray) -> np.ndarray:
    """The distinct values of a uint8 map (faster than ``np.unique`` for large maps)."""
    return np.flatnonzero(np.bincount(raw.ravel(), minlength=256))


def convert_label(raw: np.ndarray, table: np.ndarray | None, path: Path, what: str) -> np.ndarray:
    """Apply a label table; values outside the encoding raise an error naming the file."""
    if table is None:
        return raw
    present = present_values(raw)
    bad = present[table[present] == NOT_IN_ENCODING]
    if bad.size:
        valid = np.flatnonzero(table != NOT_IN_ENCODING)
        raise ValueError(
            f"label {path}: values {bad.tolist()} are not part of the {what} encoding (valid on-disk "
            f"values: {_ranges(valid)}; found {present.tolist()})"
        )
    return table[raw].astype(np.uint8)


def _ranges(values: np.ndarray) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    out, start, prev = [], None, None
    for v in [int(x) for x in values] + [None]:
        if start is None:
            start = prev = v
        elif v is not None and v == prev + 1:
            prev = v
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = v
    return ", ".join(out)
