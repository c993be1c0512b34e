"""LostAndFound (Pinggera et al., 2016) as an obstacle benchmark, and SMIYC's ``testNoKnown``.

Layout (cityscapesScripts style)::

    <root>/leftImg8bit/<split>/<NN>_<scene>/<NN>_<scene>_<seq>_<frame>_leftImg8bit.png
    <root>/gtCoarse/<split>/<NN>_<scene>/<NN>_<scene>_<seq>_<frame>_gtCoarse_labelIds.png
                                                                   _gtCoarse_labelTrainIds.png

Two label conventions are in use; both are offered by name (:data:`CONVENTIONS`):

* ``"pebal"`` — PEBAL's (and Meta-OoD's) loader: it reads ``*_gtCoarse_labelTrainIds.png``
  (LostAndFound's train ids: 255 unlabeled, 1 free road, 2 hazard, 0 for the "random
  non-hazard" objects 31, 33, 34, 36-39) and its metric uses train id 1 as inlier and 2 as
  anomaly only. So: free road -> 0, hazards -> 1, the non-hazard objects and unlabeled pixels
  -> 255 (not evaluated). Read from ``labelTrainIds`` when the file exists, else derived from
  ``labelIds`` by the same class table. **The default for ``train`` and ``test``**: PEBAL's
  LostAndFound numbers come from this loader.
* ``"smiyc"`` — SegmentMeIfYouCan's: from ``labelIds``, ``0`` -> 255, ``1`` (free road) -> 0,
  ``2..200`` (every object, non-hazards included) -> 1. **The default for ``testNoKnown``**, the
  split SegmentMeIfYouCan defined.

The data set names ``lostandfound-pebal`` and ``lostandfound-smiyc`` fix the convention (for
commands that take a data set name only); ``lostandfound`` uses the default of the split.
Images are read without applying their PNG gamma chunk (:func:`pebal.data.image_io.read_image`),
which would wash them out. Item names are the frame ids ``<NN>_<scene>_<seq>_<frame>``.

Splits: ``train`` (1036 frames), ``test`` (1203) and ``testNoKnown`` (1043), the test split as
SegmentMeIfYouCan evaluates it (facts taken from the benchmark's published split definition):

* the frames whose label map has no labelled pixel at all (all zeros) are dropped; in the
  full test split these are 17 frames. Here the rule is applied to the data (each label is
  read once when the data set is opened), not through a stored list of frame indices;
* the frames showing objects of known (Cityscapes) classes are dropped by frame-id prefix:
  ``15_Rechbergstr_Deckenpfronn`` (children) and ``01_Hanns_Klemm_Str_45_000006``,
  ``01_Hanns_Klemm_Str_45_000007``, ``10_Schlossberg_9_000004`` (bicycles).
"""

from __future__ import annotations

import os
from pathlib import Path

from pebal.data.image_io import read_label
from pebal.data.paired import PairedDataset, Sample, Scan, label_table, list_files
from pebal.labels import ANOMALY, IGNORE_INDEX, INLIER

SPLITS = ("train", "test", "testNoKnown")
CONVENTIONS = ("pebal", "smiyc")
#: the convention whose numbers each split is usually reported with
DEFAULT_CONVENTION = {"train": "pebal", "test": "pebal", "testNoKnown": "smiyc"}
#: label ids of LostAndFound's "random non-hazards" (train id 0)
NON_HAZARD_IDS = (31, 33, 34, 36, 37, 38, 39)

SMIYC_TABLE = label_table({0: IGNORE_INDEX, 1: INLIER, range(2, 201): ANOMALY})
PEBAL_TRAIN_ID_TABLE = label_table({255: IGNORE_INDEX, 0: IGNORE_INDEX, 1: INLIER, 2: ANOMALY})
PEBAL_LABEL_ID_TABLE = label_table({0: IGNORE_INDEX, 1: INLIER, range(2, 201): ANOMALY,
                                    **{i: IGNORE_INDEX for i in NON_HAZARD_IDS}})

#: one line per convention, for reports
CONVENTION_DESCRIPTIONS = {
    "pebal": "pebal (PEBAL's loader: labelTrainIds, free road inlier, hazards anomaly; "
             "non-hazard objects 31, 33, 34, 36-39 and unlabeled not evaluated)",
    "smiyc": "smiyc (SegmentMeIfYouCan: labelIds, free road inlier, every object 2-200 anomaly, "
             "unlabeled not evaluated)",
}

#: frame-id prefixes of the test frames whose "obstacle" is a child or a bicycle
KNOWN_OBJECT_PREFIXES = (
    "15_Rechbergstr_Deckenpfronn",
    "01_Hanns_Klemm_Str_45_000006",
    "01_Hanns_Klemm_Str_45_000007",
    "10_Schlossberg_9_000004",
)


def resolve_convention(split: str, convention: str | None) -> str:
    if convention is None:
        return DEFAULT_CONVENTION[split]
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown LostAndFound label convention {convention!r}; valid: {', '.join(CONVENTIONS)}")
    return convention


def scan_lostandfound(root: str | os.PathLike, split: str = "test", convention: str | None = None) -> Scan:
    """Find the frames of ``split`` with the labels of ``convention`` (``testNoKnown`` reads
    every test label once)."""
    if split not in SPLITS:
        raise ValueError(f"unknown LostAndFound split {split!r}; valid splits: {', '.join(SPLITS)}")
    convention = resolve_convention(split, convention)
    root = Path(root)
    disk_split = "test" if split == "testNoKnown" else split
    scan = Scan(root)
    image_dir = root / "leftImg8bit" / disk_split
    label_dir = root / "gtCoarse" / disk_split
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            scan.notes.append(f"{folder} is missing")
    images = list_files(image_dir, "_leftImg8bit", recursive=True)
    label_ids = list_files(label_dir, "_gtCoarse_labelIds", (".png",), recursive=True)
    train_ids = list_files(label_dir, "_gtCoarse_labelTrainIds", (".png",), recursive=True)
    name = lambda key: Path(key).name  # noqa: E731
    ids_of = {name(k): v for k, v in label_ids.items()}
    derived = 0
    for key in sorted(images):
        if convention == "pebal" and key in train_ids:
            label, table = train_ids[key], PEBAL_TRAIN_ID_TABLE
        elif key in label_ids:
            label, table = label_ids[key], (SMIYC_TABLE if convention == "smiyc" else PEBAL_LABEL_ID_TABLE)
            derived += convention == "pebal"
        else:
            scan.unmatched_images.append(images[key])
            continue
        scan.samples.append(Sample(name(key), images[key], label, table))
    scan.unmatched_labels.extend(label_ids[k] for k in sorted(set(label_ids) - set(images)))
    if not label_ids and train_ids and convention == "smiyc":
        scan.notes.append("only *_gtCoarse_labelTrainIds.png found; the smiyc convention reads *_gtCoarse_labelIds.png")
    if derived:
        scan.notes.append(f"{derived} frame(s) without *_gtCoarse_labelTrainIds.png: pebal labels derived from "
                          "*_gtCoarse_labelIds.png by the LostAndFound class table")
    scan.samples.sort(key=lambda s: s.name)
    scan.label_convention = convention
    if split == "testNoKnown":
        known = [s for s in scan.samples if s.name.startswith(KNOWN_OBJECT_PREFIXES)]
        kept = [s for s in scan.samples if not s.name.startswith(KNOWN_OBJECT_PREFIXES)]
        empty = {s.name for s in kept if _unlabelled(ids_of.get(s.name), s.label)}
        scan.samples = [s for s in kept if s.name not in empty]
        scan.notes.append(f"testNoKnown: dropped {len(known)} frames with children or bicycles and "
                          f"{len(empty)} frames without any labelled pixel")
    return scan


def _unlabelled(label_ids: Path | None, label: Path) -> bool:
    """No labelled pixel: label ids all 0 (train ids all 255 when only those exist)."""
    if label_ids is not None:
        return not read_label(label_ids).any()
    return bool((read_label(label) == IGNORE_INDEX).all())


class LostAndFoundDataset(PairedDataset):
    """LostAndFound ``split`` with labels 0 (road), 1 (obstacle), 255 (not evaluated).

    Args:
        convention: ``"pebal"`` or ``"smiyc"`` (see the module docstring); ``None``: the
            split's default (:data:`DEFAULT_CONVENTION`). ``self.label_convention`` records it.
    """

    default_split = "test"
    official_counts = {"train": 1036, "test": 1203, "testNoKnown": 1043}
    convention_descriptions = CONVENTION_DESCRIPTIONS
    fixed_convention: str | None = None

    def __init__(self, root: str | os.PathLike, split: str = "test", convention: str | None = None) -> None:
        self.split = split
        if self.fixed_convention is not None:
            if convention not in (None, self.fixed_convention):
                raise ValueError(f"{type(self).__name__} uses the {self.fixed_convention} convention; "
                                 f"got convention={convention!r}")
            convention = self.fixed_convention
        self.label_convention = resolve_convention(split, convention) if split in SPLITS else convention
        super().__init__(scan_lostandfound(root, split, self.label_convention),
                         f"LostAndFound {split} ({self.label_convention} labels)")

    @classmethod
    def discover(cls, root: str | os.PathLike, split: str = "test", convention: str | None = None) -> Scan:
        return scan_lostandfound(root, split, cls.fixed_convention or convention)


class LostAndFoundPebal(LostAndFoundDataset):
    """LostAndFound with PEBAL's label convention whatever the split."""

    fixed_convention = "pebal"


class LostAndFoundSmiyc(LostAndFoundDataset):
    """LostAndFound with SegmentMeIfYouCan's label convention whatever the split."""

    fixed_convention = "smiyc"
