"""Minimal Cityscapes and COCO trees in their release layouts, for the training tests.

Only what fine-tuning reads: ``leftImg8bit`` / ``gtFine`` ``labelIds`` PNGs of a few tiny
frames, and COCO ``train2017`` JPEGs with an ``instances_train2017.json`` holding one polygon
object per image (no category that Cityscapes has, short side >= 480 as Meta-OoD requires).
The full release-layout fixtures of every benchmark live in ``tests/realpath``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def cityscapes_tree(root: Path, counts: dict[str, int] | None = None, size: tuple[int, int] = (64, 128),
                    seed: int = 0) -> Path:
    """``root/leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine`` label ids (road, building, car, void)."""
    rng = np.random.default_rng(seed)
    h, w = size
    for split, n in (counts or {"train": 4, "val": 2}).items():
        for i in range(n):
            city = "aachen" if split == "train" else "frankfurt"
            stem = f"{city}_{i:06d}_000019"
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            label = np.full((h, w), 7, np.uint8)  # road
            label[: h // 3] = 11  # building
            label[h // 3 : h // 2, w // 4 : w // 2] = 26  # car
            label[:2] = 0  # unlabeled -> void
            image[label == 7] //= 2
            image_dir = root / "leftImg8bit" / split / city
            label_dir = root / "gtFine" / split / city
            image_dir.mkdir(parents=True, exist_ok=True)
            label_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(image_dir / f"{stem}_leftImg8bit.png")
            Image.fromarray(label).save(label_dir / f"{stem}_gtFine_labelIds.png")
    return root


def coco_tree(root: Path, images: int = 3, seed: int = 0) -> Path:
    """``root/train2017/*.jpg`` and ``root/annotations/instances_train2017.json`` (one polygon each)."""
    rng = np.random.default_rng(seed)
    (root / "train2017").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    entries, anns = [], []
    for i in range(images):
        h, w = 480, 512
        name = f"{i + 1:012d}.jpg"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "train2017" / name)
        x, y, s = 40 + 10 * i, 50, 20 + 4 * i
        entries.append({"id": i + 1, "file_name": name, "height": h, "width": w})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 88, "iscrowd": 0, "area": float(s * s),
                     "bbox": [x, y, s, s], "segmentation": [[x, y, x + s, y, x + s, y + s, x, y + s]]})
    data = {"images": entries, "annotations": anns, "categories": [{"id": 88, "name": "teddy bear"}]}
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    return root


def road_anomaly_tree(root: Path, images: int = 3, size: tuple[int, int] = (64, 128), seed: int = 0) -> Path:
    """Road Anomaly's preprocessed layout: ``original/*.jpg`` and ``labels/*.png`` (0 / 1)."""
    rng = np.random.default_rng(seed)
    h, w = size
    (root / "original").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        label = np.zeros((h, w), np.uint8)
        label[h // 2 : h // 2 + 8, 10 + 8 * i : 26 + 8 * i] = 1
        image[label == 1] = (250, 20, 200)
        Image.fromarray(image).save(root / "original" / f"frame{i}.jpg", quality=95)
        Image.fromarray(label).save(root / "labels" / f"frame{i}.png")
    return root
