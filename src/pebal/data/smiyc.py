"""SegmentMeIfYouCan (Chan et al., 2021): RoadAnomaly21 and RoadObstacle21, split as the benchmark splits them.

::

    dataset_AnomalyTrack/images/<fid>.jpg      labels_masks/<fid>_labels_semantic.png
    dataset_ObstacleTrack/images/<fid>.webp    labels_masks/<fid>_labels_semantic.png

Labels are 0 (inlier / road), 1 (anomaly / obstacle), 255 (not evaluated / off-road); the
public release has them for the validation frames only (items of frames without a label file
have ``label=None``, e.g. for ``pebal export-scores``). ``root`` may be the track folder or
its parent.

The splits follow the benchmark's own code (github.com/SegmentMeIfYouCan/road-anomaly-benchmark,
``road_anomaly_benchmark/datasets/tracks.py`` and ``tracks_extra.py`` at commit ``1c7804e``,
2023-08-24), not the presence of label files:

* AnomalyTrack: ``all`` is every ``images/*.jpg``; ``validation`` the frames ``validation*``
  (the benchmark lists validation0000-0009); ``test`` the others (the benchmark lists the 100
  test frame ids, which are exactly the release's other frames).
* ObstacleTrack: a frame's scene is its id up to the first ``_``. ``all`` is the frames of
  the benchmark's scenes (:data:`OBSTACLE_SCENES`); ``test`` those of the scenes without
  snowstorm, night (``driveway``) and validation (:data:`OBSTACLE_TEST_SCENES`, 327 frames);
  ``validation`` the ``validation`` scene minus the ids starting with
  :data:`OBSTACLE_VALIDATION_EXCLUDED` (30 frames). Frames of other scenes belong to no split
  (the scan notes them).
"""

from __future__ import annotations

import os
from pathlib import Path

from pebal.data.paired import EVAL_TABLE, PairedDataset, Sample, Scan, list_files

SPLITS = ("validation", "test", "all")

#: ObstacleTrack scenes of ``ObstacleTrack-all`` (the benchmark's ``SCENES_ALL``)
OBSTACLE_SCENES = frozenset({
    "curvy-street", "one-way-street", "gravel", "greyasphalt", "motorway", "paving", "darkasphalt",
    "darkasphalt2", "snowstorm1", "snowstorm2", "driveway", "validation",
})
#: scenes of ``ObstacleTrack-test``: all but the snowstorm, night and validation scenes
OBSTACLE_TEST_SCENES = OBSTACLE_SCENES - {"snowstorm1", "snowstorm2", "driveway", "validation"}
#: frame-id prefixes that ``ObstacleTrack-validation`` excludes from the validation scene
OBSTACLE_VALIDATION_EXCLUDED = ("validation_19",) + tuple(f"validation_{i}" for i in range(21, 30))


def _track_root(root: str | os.PathLike, folder: str) -> Path:
    root = Path(root)
    if not (root / "images").is_dir() and (root / folder / "images").is_dir():
        root = root / folder
    return root


def _in_split(track: str, fid: str, split: str) -> bool | None:
    """Whether frame ``fid`` of ``track`` is in ``split``; ``None``: in no split at all."""
    if track == "anomaly":
        return split == "all" or (split == "validation") == fid.startswith("validation")
    scene = fid.split("_")[0]
    if scene not in OBSTACLE_SCENES:
        return None
    if split == "all":
        return True
    if split == "test":
        return scene in OBSTACLE_TEST_SCENES
    return scene == "validation" and not fid.startswith(OBSTACLE_VALIDATION_EXCLUDED)


def _scan_track(root: str | os.PathLike, track: str, split: str) -> Scan:
    if split not in SPLITS:
        raise ValueError(f"unknown SegmentMeIfYouCan split {split!r}; valid splits: {', '.join(SPLITS)}")
    folder = "dataset_AnomalyTrack" if track == "anomaly" else "dataset_ObstacleTrack"
    ext = ".jpg" if track == "anomaly" else ".webp"
    root = _track_root(root, folder)
    scan = Scan(root)
    if not (root / "images").is_dir():
        scan.notes.append(f"{root / 'images'} is missing (expected {folder}/images/<id>{ext})")
    images = list_files(root / "images", "")
    labels = list_files(root / "labels_masks", "_labels_semantic", (".png",))
    other_ext = sorted(str(p.name) for p in images.values() if p.suffix.lower() != ext)
    if other_ext:
        scan.notes.append(f"{len(other_ext)} image(s) are not {ext} (the benchmark reads only {ext}), e.g. "
                          f"{other_ext[0]}")
    unknown = []
    for fid in sorted(images):
        member = _in_split(track, fid, split)
        if member is None:
            unknown.append(fid)
        elif member:
            label = labels.get(fid)
            if label is None and split == "validation":
                scan.unmatched_images.append(images[fid])
            else:
                scan.samples.append(Sample(fid, images[fid], label, EVAL_TABLE))
    if unknown:
        scan.notes.append(f"{len(unknown)} frame(s) of scenes the benchmark does not know are in no split, "
                          f"e.g. {unknown[0]}")
    scan.unmatched_labels.extend(labels[k] for k in sorted(set(labels) - set(images)))
    return scan


def scan_anomaly_track(root: str | os.PathLike, split: str = "validation") -> Scan:
    return _scan_track(root, "anomaly", split)


def scan_obstacle_track(root: str | os.PathLike, split: str = "validation") -> Scan:
    return _scan_track(root, "obstacle", split)


class SmiycAnomalyTrack(PairedDataset):
    """RoadAnomaly21: 10 validation + 100 test images."""

    default_split = "validation"
    official_counts = {"validation": 10, "test": 100, "all": 110}
    discover = staticmethod(scan_anomaly_track)

    def __init__(self, root: str | os.PathLike, split: str = "validation") -> None:
        self.split = split
        super().__init__(scan_anomaly_track(root, split), f"SegmentMeIfYouCan AnomalyTrack {split}")


class SmiycObstacleTrack(PairedDataset):
    """RoadObstacle21: 30 validation + 327 test images (452 in ``all``: with the snowstorm and
    night scenes and the 10 excluded validation frames)."""

    default_split = "validation"
    official_counts = {"validation": 30, "test": 327, "all": 452}
    discover = staticmethod(scan_obstacle_track)

    def __init__(self, root: str | os.PathLike, split: str = "validation") -> None:
        self.split = split
        super().__init__(scan_obstacle_track(root, split), f"SegmentMeIfYouCan ObstacleTrack {split}")
