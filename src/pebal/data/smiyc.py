"""SegmentMeIfYouCan (Chan et al., 2021): RoadAnomaly21 and RoadObstacle21.

::

    dataset_AnomalyTrack/images/<id>.jpg      labels_masks/<id>_labels_semantic.png
    dataset_ObstacleTrack/images/<id>.webp    labels_masks/<id>_labels_semantic.png

Labels are 0 (inlier / road), 1 (anomaly / obstacle), 255 (not evaluated / off-road). Only
the validation images have labels; the test labels are kept by the benchmark. Splits:
``validation`` (images with a label), ``test`` (images without one; items have
``label=None``, for ``pebal export-scores``) and ``all``. ``root`` may be the track folder or
its parent.
"""

from __future__ import annotations

import os
from pathlib import Path

from pebal.data.paired import EVAL_TABLE, PairedDataset, Sample, Scan, list_files

SPLITS = ("validation", "test", "all")


def _scan_track(root: str | os.PathLike, folder: str, split: str) -> Scan:
    if split not in SPLITS:
        raise ValueError(f"unknown SegmentMeIfYouCan split {split!r}; valid splits: {', '.join(SPLITS)}")
    root = Path(root)
    if not (root / "images").is_dir() and (root / folder / "images").is_dir():
        root = root / folder
    scan = Scan(root)
    if not (root / "images").is_dir():
        scan.notes.append(f"{root / 'images'} is missing (expected {folder}/images/<id>.<ext>)")
    images = list_files(root / "images", "")
    labels = list_files(root / "labels_masks", "_labels_semantic", (".png",))
    for key in sorted(images):
        label = labels.get(key)
        if split == "all" or (split == "validation") == (label is not None):
            scan.samples.append(Sample(key, images[key], label, EVAL_TABLE))
    scan.unmatched_labels.extend(labels[k] for k in sorted(set(labels) - set(images)))
    return scan


def scan_anomaly_track(root: str | os.PathLike, split: str = "validation") -> Scan:
    return _scan_track(root, "dataset_AnomalyTrack", split)


def scan_obstacle_track(root: str | os.PathLike, split: str = "validation") -> Scan:
    return _scan_track(root, "dataset_ObstacleTrack", split)


class SmiycAnomalyTrack(PairedDataset):
    """RoadAnomaly21: 10 validation + 100 test images."""

    default_split = "validation"
    official_counts = {"validation": 10, "test": 100, "all": 110}
    discover = staticmethod(scan_anomaly_track)

    def __init__(self, root: str | os.PathLike, split: str = "validation") -> None:
        self.split = split
        super().__init__(scan_anomaly_track(root, split), f"SegmentMeIfYouCan AnomalyTrack {split}")


class SmiycObstacleTrack(PairedDataset):
    """RoadObstacle21: 30 validation + 327 test images."""

    default_split = "validation"
    official_counts = {"validation": 30, "test": 327, "all": 357}
    discover = staticmethod(scan_obstacle_track)

    def __init__(self, root: str | os.PathLike, split: str = "validation") -> None:
        self.split = split
        super().__init__(scan_obstacle_track(root, split), f"SegmentMeIfYouCan ObstacleTrack {split}")
