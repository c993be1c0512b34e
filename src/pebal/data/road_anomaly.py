"""Road Anomaly (Lis et al., 2019): 60 images, 1280x720, in either of its two layouts.

* preprocessed (SynBoost / PEBAL): ``<root>/original/<name>.jpg``, ``<root>/labels/<name>.png``
  with 0 (inlier), 1 (anomaly) (255 accepted as not evaluated);
* original release: ``<root>/frame_list.json`` (the list of image file names),
  ``<root>/frames/<name>.jpg`` and ``<root>/frames/<name>.labels/labels_semantic.png`` with
  classes 0 background, 1 road, 2 anomaly -> 0, 0, 1.

The layout is recognised from the files (``frame_list.json`` means the original release).
``root`` may also be the parent of a ``RoadAnomaly/`` folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pebal.data.paired import (
    EVAL_TABLE,
    PairedDataset,
    Sample,
    Scan,
    label_table,
    scan_stem_folders,
)
from pebal.labels import ANOMALY, INLIER

ORIGINAL_TABLE = label_table({0: INLIER, 1: INLIER, 2: ANOMALY})


def _resolve(root: Path) -> Path:
    if not (root / "frame_list.json").is_file() and not (root / "original").is_dir():
        for sub in ("RoadAnomaly", "RoadAnomaly_jpg"):
            if (root / sub).is_dir():
                return root / sub
    return root


def scan_road_anomaly(root: str | os.PathLike, split: str = "test") -> Scan:
    """Find the 60 frames in whichever layout ``root`` has."""
    root = _resolve(Path(root))
    frame_list = root / "frame_list.json"
    if not frame_list.is_file():
        return scan_stem_folders(root, "original", "labels", table=EVAL_TABLE)
    scan = Scan(root)
    try:
        names = json.loads(frame_list.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{frame_list} is not valid JSON: {exc}") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{frame_list}: expected a JSON list of image file names, found {type(names).__name__}")
    for file_name in sorted(names):
        image = root / "frames" / file_name
        stem = Path(file_name).stem
        label = root / "frames" / f"{stem}.labels" / "labels_semantic.png"
        if not image.is_file():
            scan.missing_files.append(image)
            continue
        if not label.is_file():
            scan.unmatched_images.append(image)
            continue
        scan.samples.append(Sample(stem, image, label, ORIGINAL_TABLE))
    return scan


class RoadAnomalyDataset(PairedDataset):
    """Road Anomaly with labels 0 (inlier), 1 (anomaly)."""

    default_split = "test"
    official_counts = {"test": 60}
    discover = staticmethod(scan_road_anomaly)

    def __init__(self, root: str | os.PathLike, split: str = "test") -> None:
        if split != "test":
            raise ValueError(f"Road Anomaly has one split, 'test'; got {split!r}")
        super().__init__(scan_road_anomaly(root), "Road Anomaly")
