"""StreetHazards (Hendrycks et al., 2022): synthetic CARLA scenes with inserted anomalies.

::

    <root>/train/images/training/**/<name>.png     annotation: same path, images -> annotations
    <root>/train/images/validation/**/<name>.png
    <root>/test/images/**/<name>.png

Annotation pixels are 1-based class indices; index 14 and above is the anomaly class.
Converted: ``>= 14`` -> 1 (anomaly), ``1..13`` -> 0 (inlier). ``0`` is not a class of the
encoding. Item names are the image paths relative to the split's image folder, without
extension (e.g. ``t5/300``). Splits: ``train``, ``validation``, ``test`` (default).
"""

from __future__ import annotations

import os
from pathlib import Path

from pebal.data.paired import PairedDataset, Scan, label_table, list_files, pair_files
from pebal.labels import ANOMALY, INLIER

SPLIT_FOLDERS = {
    "train": ("train", "training"),
    "validation": ("train", "validation"),
    "test": ("test", ""),
}
FIRST_ANOMALY_CLASS = 14
LABEL_TABLE = label_table({range(1, FIRST_ANOMALY_CLASS): INLIER, range(FIRST_ANOMALY_CLASS, 256): ANOMALY})


def scan_streethazards(root: str | os.PathLike, split: str = "test") -> Scan:
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"unknown StreetHazards split {split!r}; valid splits: {', '.join(SPLIT_FOLDERS)}")
    root = Path(root)
    top, sub = SPLIT_FOLDERS[split]
    image_dir = root / top / "images" / sub if sub else root / top / "images"
    label_dir = root / top / "annotations" / sub if sub else root / top / "annotations"
    scan = Scan(root)
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            scan.notes.append(f"{folder} is missing")
    images = list_files(image_dir, "", recursive=True)
    labels = list_files(label_dir, "", (".png",), recursive=True)
    return pair_files(scan, images, labels, LABEL_TABLE)


class StreetHazardsDataset(PairedDataset):
    """StreetHazards ``split`` with labels 0 (inlier), 1 (anomaly)."""

    default_split = "test"
    official_counts = {"train": 5125, "validation": 1031, "test": 1500}
    discover = staticmethod(scan_streethazards)

    def __init__(self, root: str | os.PathLike, split: str = "test") -> None:
        self.split = split
        super().__init__(scan_streethazards(root, split), f"StreetHazards {split}")
