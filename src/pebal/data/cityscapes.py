"""Cityscapes (the inlier data set), in the layout of cityscapesScripts.

::

    <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png       (34 label ids)
                                                       _gtFine_labelTrainIds.png  (if generated)

Labels come out as the 19 train ids with 255 for every other id, following the label table
of ``cityscapesscripts`` (:func:`pebal.labels.cityscapes_label_id_to_train_id`). When both
files exist the ``labelIds`` one is used (it is the original); ``labelTrainIds`` files are
accepted as they are (values 0..18 and 255). Item names are ``<city>_<seq>_<frame>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pebal.data.paired import NOT_IN_ENCODING, PairedDataset, Scan, label_table, list_files, pair_files
from pebal.labels import IGNORE_INDEX, NUM_CITYSCAPES_CLASSES, cityscapes_label_id_to_train_id

SPLITS = ("train", "val", "test")


def _label_id_table() -> np.ndarray:
    table = cityscapes_label_id_to_train_id().astype(np.int16)
    table[34:] = NOT_IN_ENCODING  # label ids are 0..33
    table.setflags(write=False)
    return table


LABEL_ID_TABLE = _label_id_table()
TRAIN_ID_TABLE = label_table({**{i: i for i in range(NUM_CITYSCAPES_CLASSES)}, IGNORE_INDEX: IGNORE_INDEX})


def scan_cityscapes(root: str | os.PathLike, split: str = "val") -> Scan:
    """Find the images and fine labels of ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown Cityscapes split {split!r}; valid splits: {', '.join(SPLITS)}")
    root = Path(root)
    scan = Scan(root)
    image_dir = root / "leftImg8bit" / split
    label_dir = root / "gtFine" / split
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            scan.notes.append(f"{folder} is missing")
    images = list_files(image_dir, "_leftImg8bit", recursive=True)
    by_ids = list_files(label_dir, "_gtFine_labelIds", (".png",), recursive=True)
    by_train_ids = list_files(label_dir, "_gtFine_labelTrainIds", (".png",), recursive=True)
    name = lambda key: Path(key).name  # noqa: E731  (<city>_<seq>_<frame>, unique)
    pair_files(scan, {k: v for k, v in images.items() if k in by_ids}, by_ids, LABEL_ID_TABLE, name)
    rest = {k: v for k, v in images.items() if k not in by_ids}
    pair_files(scan, rest, {k: v for k, v in by_train_ids.items() if k not in by_ids}, TRAIN_ID_TABLE, name)
    scan.samples.sort(key=lambda s: s.name)
    if by_train_ids and not by_ids:
        scan.notes.append("using *_gtFine_labelTrainIds.png (no *_gtFine_labelIds.png found)")
    return scan


class CityscapesDataset(PairedDataset):
    """Cityscapes ``split`` with train-id labels (0..18, 255 void)."""

    default_split = "val"
    official_counts = {"train": 2975, "val": 500, "test": 1525}

    def __init__(self, root: str | os.PathLike, split: str = "val") -> None:
        self.split = split
        super().__init__(scan_cityscapes(root, split), f"Cityscapes {split}")

    discover = staticmethod(scan_cityscapes)
