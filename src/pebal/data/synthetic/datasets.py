"""Readers of a generated benchmark (see :mod:`pebal.data.synthetic.cache` for the layout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pebal.data.folder import FolderDataset
from pebal.data.image_io import read_image, read_label
from pebal.data.synthetic.scene import TEST_SETS, USED_TRAIN_IDS
from pebal.labels import IGNORE_INDEX

_VALID = np.zeros(256, bool)
_VALID[list(USED_TRAIN_IDS) + [IGNORE_INDEX]] = True


def _require(root: Path) -> None:
    if not (root / "manifest.json").is_file():
        raise FileNotFoundError(
            f"no generated benchmark at {root} (manifest.json missing); create it with "
            f"`pebal synth --out {root}` or pebal.data.synthetic.ensure_benchmark({str(root)!r})")


class SyntheticInlierDataset:
    """Inlier scenes of split ``train`` or ``val``: item ``{"image", "label" (train ids), "name"}``."""

    num_classes = 19  # Cityscapes train ids; the generator uses the subset USED_TRAIN_IDS

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root = Path(root)
        _require(self.root)
        self.split = split
        self.image_dir = self.root / "inlier" / split / "images"
        self.label_dir = self.root / "inlier" / split / "labels"
        self.names = sorted(p.stem for p in self.image_dir.glob("*.png"))
        missing = [n for n in self.names if not (self.label_dir / f"{n}.png").is_file()]
        if missing:
            raise ValueError(f"{len(missing)} image(s) in {self.image_dir} have no label in {self.label_dir} "
                             f"(e.g. {', '.join(missing[:3])}); regenerate with `pebal synth --out {self.root}`")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        image = read_image(self.image_dir / f"{name}.png")
        label_path = self.label_dir / f"{name}.png"
        label = read_label(label_path)
        if label.shape != image.shape[:2]:
            raise ValueError(f"label {label_path} is {label.shape} but its image is {image.shape[:2]}")
        if not _VALID[label].all():
            bad = np.unique(label[~_VALID[label]]).tolist()
            raise ValueError(f"label {label_path} has ids {bad} outside the generator's train ids "
                             f"{list(USED_TRAIN_IDS)} and 255")
        return {"image": image, "label": label, "name": f"{self.split}/{name}"}

    def __repr__(self) -> str:
        return f"SyntheticInlierDataset({str(self.root)!r}, split={self.split!r}, {len(self)} items)"


def synthetic_test_sets(root: str | os.PathLike) -> dict[str, FolderDataset]:
    """The anomaly test sets of the benchmark at ``root``, each a Fishyscapes-layout :class:`FolderDataset`."""
    root = Path(root)
    _require(root)
    return {name: FolderDataset(root / "test" / name, images="original", labels="labels") for name in TEST_SETS}


def outlier_exposure_items(root: str | os.PathLike) -> list[tuple[Path, Path, str]]:
    """``(image_path, mask_path, family)`` of every outlier-exposure cut-out, sorted by file name."""
    root = Path(root)
    _require(root)
    items = []
    for image_path in sorted((root / "outlier_exposure" / "images").glob("*.png")):
        mask_path = root / "outlier_exposure" / "masks" / image_path.name
        if not mask_path.is_file():
            raise FileNotFoundError(f"cut-out {image_path} has no mask {mask_path}")
        family = image_path.stem.rsplit("_", 1)[0]
        items.append((image_path, mask_path, family))
    return items
