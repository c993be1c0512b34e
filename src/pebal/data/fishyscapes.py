"""Fishyscapes LostAndFound (validation, 100 images) and Static (validation, 30 images).

The preprocessed layout used by SynBoost, PEBAL and others::

    <root>/LostAndFound/original/<name>.png     <root>/LostAndFound/labels/<name>.png
    <root>/Static/original/<name>.png           <root>/Static/labels/<name>.png

Labels are already 0 (inlier), 1 (anomaly), 255 (not evaluated). ``root`` may be the folder
holding ``LostAndFound/`` and ``Static/`` or the subset folder itself. Loading is
:class:`pebal.data.folder.FolderDataset`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pebal.data.folder import FolderDataset
from pebal.data.paired import Scan, scan_stem_folders


def resolve_subset_root(root: str | os.PathLike, subset: str) -> Path:
    """``root/subset`` if it exists, else ``root`` (already the subset folder)."""
    root = Path(root)
    return root / subset if (root / subset / "original").is_dir() else root


class FishyscapesDataset(FolderDataset):
    """One Fishyscapes validation subset, ``"LostAndFound"`` or ``"Static"``."""

    subset = "LostAndFound"
    default_split = "val"
    official_counts = {"val": 100}

    def __init__(self, root: str | os.PathLike, split: str = "val") -> None:
        if split != "val":
            raise ValueError(f"Fishyscapes {self.subset}: only the 'val' split is public, got {split!r}")
        super().__init__(resolve_subset_root(root, self.subset), images="original", labels="labels")

    @classmethod
    def discover(cls, root: str | os.PathLike, split: str = "val") -> Scan:
        return scan_stem_folders(resolve_subset_root(root, cls.subset), "original", "labels")


class FishyscapesLostAndFound(FishyscapesDataset):
    subset = "LostAndFound"
    official_counts = {"val": 100}


class FishyscapesStatic(FishyscapesDataset):
    subset = "Static"
    official_counts = {"val": 30}
