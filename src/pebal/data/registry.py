"""Data-set registry: ``open_dataset(name, root, **kwargs)`` by name.

Every data set is sized and indexable; item ``i`` is a dict::

    {"image": uint8 ndarray (H, W, 3) RGB,
     "label": uint8 ndarray (H, W)  # train ids / 254 / 255, or 0 / 1 / 255 for anomaly sets
     "name":  str}                  # a stable identifier (relative path without extension)

Entries map a name to ``"module:class_or_function"``; modules load lazily.
"""

from __future__ import annotations

import importlib
import os

_DATASETS: dict[str, str] = {
    "folder": "pebal.data.folder:FolderDataset",
    "cityscapes": "pebal.data.cityscapes:CityscapesDataset",
    "coco-ood": "pebal.data.coco:CocoOODDataset",
    "lostandfound": "pebal.data.lostandfound:LostAndFoundDataset",
    "lostandfound-pebal": "pebal.data.lostandfound:LostAndFoundPebal",
    "lostandfound-smiyc": "pebal.data.lostandfound:LostAndFoundSmiyc",
    "fishyscapes-laf": "pebal.data.fishyscapes:FishyscapesLostAndFound",
    "fishyscapes-static": "pebal.data.fishyscapes:FishyscapesStatic",
    "road-anomaly": "pebal.data.road_anomaly:RoadAnomalyDataset",
    "smiyc-anomaly": "pebal.data.smiyc:SmiycAnomalyTrack",
    "smiyc-obstacle": "pebal.data.smiyc:SmiycObstacleTrack",
    "streethazards": "pebal.data.streethazards:StreetHazardsDataset",
    "synthetic-inlier": "pebal.data.synthetic.datasets:SyntheticInlierDataset",
}


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def dataset_factory(name: str):
    """The class (or function) registered as ``name``, imported on demand."""
    if name not in _DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(list_datasets())}")
    module_name, attr = _DATASETS[name].split(":")
    return getattr(importlib.import_module(module_name), attr)


def open_dataset(name: str, root: str | os.PathLike, **kwargs):
    """Open the data set ``name`` stored under ``root``."""
    return dataset_factory(name)(root, **kwargs)


def describe_dataset(dataset) -> dict:
    """What a result was measured on, for results files: class, root, split, item count and
    label convention (``None`` where a data set has only one)."""
    root = getattr(dataset, "root", None)
    return {
        "type": type(dataset).__name__,
        "root": None if root is None else str(root),
        "split": getattr(dataset, "split", None),
        "items": len(dataset),
        "label_convention": getattr(dataset, "label_convention", None),
    }
