"""All fixture data sets under one folder: :func:`build_realdata` and the :class:`RealData` it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .realpath_anomaly_layouts import write_fishyscapes, write_lostandfound, write_road_anomaly, write_smiyc
from .realpath_inlier_layouts import write_cityscapes, write_coco


@dataclass(frozen=True)
class RealData:
    """Roots of the fixture data sets (each as a user would pass it to ``--root``)."""

    root: Path
    cityscapes: Path            # leftImg8bit/ + gtFine/ (labelIds only, as released)
    cityscapes_train_ids: Path  # the same frames with *_gtFine_labelTrainIds.png added
    coco: Path                  # train2017/ + annotations/instances_train2017.json
    lostandfound: Path          # leftImg8bit/ + gtCoarse/ (train and test)
    fishyscapes: Path           # LostAndFound/ and Static/ (preprocessed layout)
    road_anomaly: Path          # preprocessed: original/ + labels/
    road_anomaly_original: Path  # the release: frame_list.json + frames/
    smiyc: Path                 # dataset_AnomalyTrack/ and dataset_ObstacleTrack/


def build_realdata(root: Path, seed: int = 0) -> RealData:
    """Write every fixture data set under ``root`` (about 1 s, 2 MB)."""
    data = RealData(
        root=root,
        cityscapes=write_cityscapes(root / "cityscapes", seed=seed),
        cityscapes_train_ids=write_cityscapes(root / "cityscapes_trainids", seed=seed, train_ids=True),
        coco=write_coco(root / "coco", seed=seed),
        lostandfound=write_lostandfound(root / "lostandfound", seed=seed),
        fishyscapes=write_fishyscapes(root / "fishyscapes", seed=seed),
        road_anomaly=write_road_anomaly(root / "road_anomaly", "preprocessed", seed=seed),
        road_anomaly_original=write_road_anomaly(root / "RoadAnomaly", "original", seed=seed),
        smiyc=write_smiyc(root / "smiyc", seed=seed),
    )
    return data
