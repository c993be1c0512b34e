"""COCO as an outlier source, with the selection rule of Meta-OoD used by PEBAL.

Selection (Meta-OoD, PEBAL): from the images of ``instances_<split>.json``

1. drop every image with an instance (crowd instances included) of a category in
   :data:`META_OOD_EXCLUDED_CATEGORIES` — the COCO classes that Cityscapes also has;
2. keep the images whose shorter side is at least ``min_short_side`` (480) px;
3. drop images without any instance (Meta-OoD writes an all-zero mask for them, which
   pastes nothing; here they never enter the pool).

The object mask of an image is the union of all its instance masks (polygons, RLE and
crowd RLE, decoded with ``pycocotools.mask``); the crop is the bounding box of that union.
The **class of an image** is the category of its largest instance by the annotation's
``area`` field (ties: the lower annotation id) — a rule this project chose so that
class-fraction subsets (the paper's Table 6) are defined for multi-object images.

``pycocotools`` is an optional dependency (``pip install pebal[data]``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from pebal.data.outliers._io import read_rgb
from pebal.data.outliers.base import IndexedOutlierSource, OutlierObject, SampleEntry, crop_to_object

#: COCO categories dropped by Meta-OoD / PEBAL because Cityscapes has them.
META_OOD_EXCLUDED_CATEGORIES = (
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "traffic light", "stop sign",
)


def load_coco_json(annotation_file: str | os.PathLike) -> dict:
    """Read a COCO instances file, with errors that name it."""
    path = Path(annotation_file)
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{path} is not a COCO instances file: the key {key!r} is missing")
    return data


def _largest_instance_class(anns: list[dict], cat_names: Mapping[int, str]) -> str:
    def size(a: dict) -> float:
        if "area" in a:
            return float(a["area"])
        bbox = a.get("bbox", (0, 0, 0, 0))
        return float(bbox[2]) * float(bbox[3])

    best = min(anns, key=lambda a: (-size(a), a.get("id", 0)))
    return cat_names[best["category_id"]]


def coco_image_classes(annotation: str | os.PathLike | dict) -> dict[int, str]:
    """``image id -> category name of its largest instance`` for every annotated image."""
    data = annotation if isinstance(annotation, dict) else load_coco_json(annotation)
    cat_names = {c["id"]: c["name"] for c in data["categories"]}
    by_image: dict[int, list[dict]] = defaultdict(list)
    for ann in data["annotations"]:
        by_image[ann["image_id"]].append(ann)
    return {img_id: _largest_instance_class(anns, cat_names) for img_id, anns in by_image.items()}


def decode_instance_union(anns: Iterable[dict], height: int, width: int) -> np.ndarray:
    """Union of the instance masks of one image: bool (height, width)."""
    from pycocotools import mask as mask_utils

    union = np.zeros((height, width), dtype=bool)
    for ann in anns:
        segm = ann.get("segmentation")
        if not segm:
            continue
        if isinstance(segm, list):  # polygons: one object may have several parts
            rle = mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
        elif isinstance(segm.get("counts"), list):  # uncompressed RLE (crowd)
            rle = mask_utils.frPyObjects(segm, height, width)
        else:  # compressed RLE
            rle = segm
        with warnings.catch_warnings():
            # pycocotools' Cython mask object predates NumPy 2's ``copy`` keyword; harmless.
            warnings.filterwarnings("ignore", message=".*__array__ implementation", category=DeprecationWarning)
            union |= mask_utils.decode(rle).astype(bool)
    return union


class CocoOutlierSource(IndexedOutlierSource):
    """COCO images selected by the Meta-OoD rule; each image's object is the union of its instances.

    Args:
        coco_root: the COCO folder (holding ``<split>/`` and ``annotations/``).
        annotation_file: default ``coco_root/annotations/instances_<split>.json``.
        images_dir: default ``coco_root/<split>``.
        excluded_categories: category names whose images are dropped.
        min_short_side: minimum of (height, width) in pixels.

    ``selection`` records how many images each rule removed.
    """

    def __init__(self, coco_root: str | os.PathLike, annotation_file: str | os.PathLike | None = None, *,
                 split: str = "train2017", images_dir: str | os.PathLike | None = None,
                 excluded_categories: Iterable[str] = META_OOD_EXCLUDED_CATEGORIES,
                 min_short_side: int = 480):
        try:
            import pycocotools.mask  # noqa: F401  (fail now, not on the first draw)
        except ImportError as exc:
            raise ImportError("CocoOutlierSource needs pycocotools: pip install 'pebal[data]'") from exc
        root = Path(coco_root)
        self.annotation_file = Path(annotation_file) if annotation_file is not None else (
            root / "annotations" / f"instances_{split}.json")
        self.images_dir = Path(images_dir) if images_dir is not None else root / split
        self.description = f"COCO {self.annotation_file}"
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"the COCO image folder {self.images_dir} does not exist or is not a folder")
        data = load_coco_json(self.annotation_file)

        cat_names = {c["id"]: c["name"] for c in data["categories"]}
        excluded_categories = tuple(excluded_categories)
        excluded = set(excluded_categories)
        # The default list is checked leniently: small or custom COCO-format files may
        # simply not have those categories. A list the user wrote must match.
        if excluded_categories != META_OOD_EXCLUDED_CATEGORIES:
            unknown = excluded - set(cat_names.values())
            if unknown:
                raise ValueError(
                    f"excluded categories {sorted(unknown)} are not categories of {self.annotation_file}; "
                    f"valid names include {sorted(cat_names.values())[:10]}"
                )
        excluded_ids = {cid for cid, name in cat_names.items() if name in excluded}
        by_image: dict[int, list[dict]] = defaultdict(list)
        for ann in data["annotations"]:
            by_image[ann["image_id"]].append(ann)

        counts = {"images": len(data["images"]), "excluded_category": 0, "too_small": 0,
                  "no_instance": 0, "kept": 0}
        entries = []
        for img in sorted(data["images"], key=lambda im: im["id"]):
            anns = by_image.get(img["id"], [])
            if any(a["category_id"] in excluded_ids for a in anns):
                counts["excluded_category"] += 1
            elif min(img["height"], img["width"]) < min_short_side:
                counts["too_small"] += 1
            elif not anns:
                counts["no_instance"] += 1
            else:
                # Keep only what loading needs, so the JSON can be freed.
                key = (img["file_name"], int(img["height"]), int(img["width"]),
                       tuple({"segmentation": a.get("segmentation")} for a in anns))
                entries.append(SampleEntry(name=Path(img["file_name"]).stem,
                                           class_name=_largest_instance_class(anns, cat_names), key=key))
        counts["kept"] = len(entries)
        self.selection = counts
        if not entries:
            raise ValueError(
                f"the outlier pool is empty: no image of {self.annotation_file} passes the selection "
                f"(of {counts['images']} images, {counts['excluded_category']} contain an excluded category, "
                f"{counts['too_small']} have a side under {min_short_side} px, "
                f"{counts['no_instance']} have no instance)"
            )
        self._entries = entries

    def _load(self, entry: SampleEntry) -> OutlierObject:
        file_name, height, width, anns = entry.key
        path = self.images_dir / file_name
        image = read_rgb(path)
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"{path} is {image.shape[1]}x{image.shape[0]} (WxH) but {self.annotation_file} says "
                f"{width}x{height}; the annotations do not match this image"
            )
        mask = decode_instance_union(anns, height, width)
        return crop_to_object(image, mask, entry.name, entry.class_name, what=f"{path} (COCO image)")
