"""``pebal data check``: what a data set folder holds compared with the official release.

The check uses the same scan as the loader (``<DatasetClass>.discover``), so it reports
exactly the files the loader would use, and lists instead of raising: images without a
label, labels without an image, files an index names but that are missing, unreadable
files, image/label size mismatches and on-disk label values outside the data set's
encoding. Image sizes come from the file headers; every label (or the first
``max_labels``) is decoded once. Where masks come from annotations rather than files (COCO's
polygons and RLE), a sample of them is decoded (``max_labels`` images, default 100) and their
coverage reported. Where a data set offers several label conventions (LostAndFound), the
report names the one used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pebal.data.image_io import ImageReadError, read_label
from pebal.data.paired import EVAL_TABLE, NOT_IN_ENCODING, Scan, present_values, scan_stem_folders
from pebal.data.registry import dataset_factory, list_datasets
from pebal.labels import EVAL_VALUES

#: the number of examples listed per problem in the text report
SHOW = 5


@dataclass
class CheckReport:
    """The findings of :func:`check_dataset`."""

    dataset: str
    root: Path
    split: str | None
    found: int
    official: int | None
    unmatched_images: list[Path] = field(default_factory=list)
    unmatched_labels: list[Path] = field(default_factory=list)
    missing_files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)
    unexpected_values: dict[int, list[Path]] = field(default_factory=dict)
    value_pixels: dict[int, int] = field(default_factory=dict)
    loaded_pixels: dict[int, int] = field(default_factory=dict)
    labels_read: int = 0
    labels_total: int = 0
    notes: list[str] = field(default_factory=list)
    label_convention: str | None = None
    convention_text: str | None = None
    masks: object = None  # a pebal.data.coco.MaskSample where masks are decoded from annotations

    @property
    def count_matches(self) -> bool | None:
        return None if self.official is None else self.found == self.official

    @property
    def ok(self) -> bool:
        """Something was found; no unpaired, missing or unreadable file, no size mismatch, no
        unexpected label value."""
        return self.found > 0 and not (self.unmatched_images or self.unmatched_labels or self.missing_files
                    or self.unreadable or self.size_mismatch or self.unexpected_values) and (
                    self.masks is None or self.masks.ok)

    def format(self) -> str:
        split = f" ({self.split})" if self.split else ""
        lines = [f"data set {self.dataset}{split} at {self.root}"]
        if self.official is None:
            lines.append(f"  found {self.found} items (no official count known)")
        else:
            verdict = "as expected" if self.count_matches else f"MISMATCH: the official release has {self.official}"
            lines.append(f"  found {self.found} items; {verdict}")
        problems = [
            ("images without a label", self.unmatched_images),
            ("labels without an image", self.unmatched_labels),
            ("listed files missing", self.missing_files),
            ("unreadable files", self.unreadable),
            ("image/label size mismatches", self.size_mismatch),
        ]
        for title, items in problems:
            if items:
                lines.append(f"  {len(items)} {title}:")
                lines.extend(f"    {p}" for p in items[:SHOW])
                if len(items) > SHOW:
                    lines.append(f"    ... and {len(items) - SHOW} more")
        if self.label_convention is not None:
            lines.append(f"  label convention: {self.convention_text or self.label_convention}")
        if self.labels_total:
            lines.append(f"  labels decoded: {self.labels_read} of {self.labels_total}")
        if self.masks is not None:
            lines.extend("  " + line for line in self.masks.format().splitlines())
        if self.value_pixels:
            total = sum(self.value_pixels.values())
            shown = ", ".join(f"{v}: {100 * n / total:.2f}%" for v, n in sorted(self.value_pixels.items())[:20])
            more = " ..." if len(self.value_pixels) > 20 else ""
            lines.append(f"  on-disk label values (share of pixels): {shown}{more}")
        if self.loaded_pixels:
            total = sum(self.loaded_pixels.values())
            shown = ", ".join(f"{v}: {100 * n / total:.2f}%" for v, n in sorted(self.loaded_pixels.items())[:20])
            lines.append(f"  label values as loaded (share of pixels): {shown}")
        for value, files in sorted(self.unexpected_values.items()):
            lines.append(f"  unexpected label value {value} in {len(files)} file(s), e.g. {files[0]}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        lines.append("  OK" if self.ok else "  PROBLEMS FOUND")
        return "\n".join(lines)


def _folder_scan(root, images: str = "original", labels: str = "labels", label_map=None,
                 label_suffix: str = "") -> Scan:
    """The lenient counterpart of :class:`pebal.data.folder.FolderDataset`."""
    table = EVAL_TABLE
    if label_map is not None:
        from pebal.data.folder import _label_lut

        lut = _label_lut(label_map).astype(np.int16)
        table = np.where(np.isin(lut, EVAL_VALUES), lut, NOT_IN_ENCODING).astype(np.int16)
    return scan_stem_folders(root, images, labels, label_suffix, table=table)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def check_dataset(name: str, root: str | os.PathLike, split: str | None = None,
                  max_labels: int | None = None, progress: bool = False, **kwargs) -> CheckReport:
    """Scan ``root`` as the data set ``name`` and report what was found and what is wrong.

    Args:
        split: the split to check (default: the data set's default split).
        max_labels: decode at most this many labels (``None``: all).
        progress: show a progress bar while reading labels.
        kwargs: further arguments of the data set (e.g. ``images=`` for ``folder``).
    """
    factory = dataset_factory(name)
    if split is not None:
        kwargs["split"] = split
    if name == "folder":
        scan = _folder_scan(root, **kwargs)
        official = None
    else:
        discover = getattr(factory, "discover", None)
        if discover is None:
            checkable = [n for n in list_datasets() if n == "folder" or hasattr(dataset_factory(n), "discover")]
            raise ValueError(f"data set {name!r} has no file check; checkable: {', '.join(checkable)}")
        scan = discover(root, **kwargs)
        split = kwargs.get("split", getattr(factory, "default_split", None))
        official = getattr(factory, "official_counts", {}).get(split)
    report = CheckReport(
        dataset=name, root=scan.root, split=split, found=len(scan.samples), official=official,
        unmatched_images=list(scan.unmatched_images), unmatched_labels=list(scan.unmatched_labels),
        missing_files=list(scan.missing_files), notes=list(scan.notes), label_convention=scan.label_convention,
    )
    if scan.label_convention is not None:
        report.convention_text = getattr(factory, "convention_descriptions", {}).get(scan.label_convention)
    inspect = getattr(factory, "inspect_masks", None)
    if inspect is not None and scan.samples:
        report.masks = inspect(scan, max_labels)
    labelled = [s for s in scan.samples if s.label is not None]
    report.labels_total = len(labelled)
    todo = labelled if max_labels is None else labelled[:max_labels]
    counts = np.zeros(256, dtype=np.int64)
    loaded = np.zeros(256, dtype=np.int64)
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc=f"checking {name} labels", unit="label")
    for sample in iterator:
        try:
            raw = read_label(sample.label)
            image_size = _image_size(sample.image)
        except (ImageReadError, OSError, ValueError) as exc:
            report.unreadable.append(f"{exc}")
            continue
        report.labels_read += 1
        if (raw.shape[1], raw.shape[0]) != image_size:
            report.size_mismatch.append(
                f"{sample.label} is {raw.shape[1]}x{raw.shape[0]}, image {sample.image} is "
                f"{image_size[0]}x{image_size[1]}")
        per_value = np.bincount(raw.ravel(), minlength=256)
        counts += per_value
        if sample.table is not None:
            known = sample.table != NOT_IN_ENCODING
            np.add.at(loaded, sample.table[known].astype(np.int64), per_value[known])
            present = present_values(raw)
            for value in present[sample.table[present] == NOT_IN_ENCODING]:
                report.unexpected_values.setdefault(int(value), []).append(sample.label)
    report.value_pixels = {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    report.loaded_pixels = {int(v): int(loaded[v]) for v in np.flatnonzero(loaded)}
    return report
