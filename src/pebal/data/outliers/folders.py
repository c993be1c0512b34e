"""Outlier sources read from folders: image + mask pairs, and RGBA cut-outs.

* :class:`MaskFolderSource` — ``images_dir/<stem>.{png,jpg,...}`` beside
  ``masks_dir/<stem>.png`` (uint8, 0 background, 254 object). Two layouts use it:
  the embedded benchmark's outlier-exposure family
  (``ROOT/outlier_exposure/{images,masks}/<family>_NNNNN.png``, see :meth:`embedded`) and
  Meta-OoD's preprocessed COCO masks (``COCO/annotations/ood_seg_train2017/<id>.png``
  beside ``COCO/train2017/<id>.jpg``, see :meth:`meta_ood`).
* :class:`RgbaFolderSource` — a folder of RGBA cut-outs; alpha > 127 is object.

A sample's class comes from a ``classes`` rule: ``"prefix"`` (the file stem without its
trailing ``_<digits>``), ``"folder"`` (the sub-folder under the root, RGBA only), a mapping
``stem -> class``, a callable ``stem -> class``, or ``None`` (unknown).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from pebal.data.outliers._io import IMAGE_SUFFIXES, read_mask, read_rgb, read_rgba, read_size
from pebal.data.outliers.base import (
    IndexedOutlierSource,
    OutlierObject,
    SampleEntry,
    class_from_prefix,
    crop_to_object,
)
from pebal.labels import OUTLIER_INDEX

ClassRule = str | Mapping[str, str] | Callable[[str], "str | None"] | None


def _resolve_class(rule: ClassRule, stem: str, folder: str | None = None) -> str | None:
    if rule is None:
        return None
    if rule == "prefix":
        return class_from_prefix(stem)
    if rule == "folder":
        return folder
    if isinstance(rule, Mapping):
        value = rule.get(stem)
        return None if value is None else str(value)
    if callable(rule):
        value = rule(stem)
        return None if value is None else str(value)
    raise ValueError(f"unknown class rule {rule!r}; use 'prefix', 'folder', a mapping, a callable or None")


def _check_same_size(image_path: Path, image_size: tuple[int, int], mask_path: Path,
                     mask_shape: tuple[int, ...]) -> None:
    if tuple(image_size) != (mask_shape[1], mask_shape[0]):
        raise ValueError(
            f"{image_path} is {image_size[0]}x{image_size[1]} (WxH) but its mask {mask_path} is "
            f"{mask_shape[1]}x{mask_shape[0]}; an outlier image and its mask must have the same size"
        )


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} does not exist or is not a folder")


class MaskFolderSource(IndexedOutlierSource):
    """Outlier objects from an image folder and a mask folder with matching file stems.

    Args:
        images_dir: RGB images ``<stem>.<png|jpg|jpeg|webp|bmp>``.
        masks_dir: single-channel masks ``<stem>.png``; one sample per mask file.
        classes: class rule (see the module docstring); default ``"prefix"``.
        object_value: mask value of object pixels (254, ``pebal.labels.OUTLIER_INDEX``).
        scan: read every mask now, drop the samples whose mask has no object pixel (listed
            in ``self.skipped``) and check every image/mask size. Off by default, so a big
            pool opens instantly; problems are then raised when the sample is drawn.

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` for an empty pool
    or a mask without an image.
    """

    def __init__(self, images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *,
                 classes: ClassRule = "prefix", object_value: int = OUTLIER_INDEX,
                 scan: bool = False):
        self.images_dir = Path(images_dir)
        self.masks_dir = Path(masks_dir)
        self.object_value = int(object_value)
        self.description = f"mask folder {self.masks_dir}"
        self.skipped: list[str] = []
        _require_dir(self.images_dir, "the outlier image folder")
        _require_dir(self.masks_dir, "the outlier mask folder")

        masks = sorted(p for p in self.masks_dir.iterdir() if p.suffix.lower() == ".png" and p.is_file())
        if not masks:
            raise ValueError(f"the outlier pool is empty: {self.masks_dir} has no mask files (*.png)")
        # One listing of the image folder instead of a stat per mask and suffix: COCO's
        # train2017 holds 118k files.
        images: dict[str, Path] = {}
        for p in sorted(self.images_dir.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                images.setdefault(p.stem, p)
        missing = [m.name for m in masks if m.stem not in images]
        if missing:
            raise ValueError(
                f"{len(missing)} of {len(masks)} masks in {self.masks_dir} have no image of the same "
                f"name in {self.images_dir} (first: {', '.join(missing[:5])}); expected "
                f"<stem>{{{','.join(IMAGE_SUFFIXES)}}} for every <stem>.png mask"
            )
        self._entries = [
            SampleEntry(name=m.stem, class_name=_resolve_class(classes, m.stem), key=(images[m.stem], m))
            for m in masks
        ]
        if scan:
            self._scan()

    def _scan(self) -> None:
        kept = []
        for entry in self._entries:
            image_path, mask_path = entry.key
            mask = read_mask(mask_path)
            if not (mask == self.object_value).any():
                self.skipped.append(entry.name)
                continue
            _check_same_size(image_path, read_size(image_path), mask_path, mask.shape)
            kept.append(entry)
        if not kept:
            raise ValueError(
                f"the outlier pool is empty: no mask in {self.masks_dir} has a pixel of value {self.object_value}"
            )
        self._entries = kept

    def _load(self, entry: SampleEntry) -> OutlierObject:
        image_path, mask_path = entry.key
        raw = read_mask(mask_path)
        mask = raw == self.object_value
        if not mask.any():
            found = ", ".join(str(v) for v in np.unique(raw)[:8])
            raise ValueError(
                f"{mask_path}: the mask has no object pixel (value {self.object_value}); values found: "
                f"{found}. Remove the sample, fix the mask, or open the folder with scan=True to skip it"
            )
        image = read_rgb(image_path)
        _check_same_size(image_path, (image.shape[1], image.shape[0]), mask_path, mask.shape)
        return crop_to_object(image, mask, entry.name, entry.class_name, what=str(mask_path))

    @classmethod
    def embedded(cls, root: str | os.PathLike, **kwargs) -> MaskFolderSource:
        """The embedded benchmark's family: ``ROOT/outlier_exposure/{images,masks}/<family>_NNNNN.png``.

        The class of a sample is its ``<family>`` prefix.
        """
        base = Path(root) / "outlier_exposure"
        kwargs.setdefault("classes", "prefix")
        return cls(base / "images", base / "masks", **kwargs)

    @classmethod
    def meta_ood(cls, coco_root: str | os.PathLike, annotation_file: str | os.PathLike | None = None,
                 *, split: str = "train2017", **kwargs) -> MaskFolderSource:
        """Meta-OoD's preprocessed COCO: ``annotations/ood_seg_<split>/<id>.png`` beside ``<split>/<id>.jpg``.

        With ``annotation_file`` (COCO ``instances_<split>.json``) each image's class is the
        category of its largest instance (:func:`pebal.data.outliers.coco.coco_image_classes`);
        without it classes are unknown and class-fraction subsets raise an error.
        Meta-OoD's script also writes all-zero masks for images without annotations; pass
        ``scan=True`` to drop those up front instead of failing when one is drawn.
        """
        root = Path(coco_root)
        if annotation_file is not None:
            from pebal.data.outliers.coco import coco_image_classes

            by_id = coco_image_classes(annotation_file)

            def rule(stem: str) -> str | None:
                return by_id.get(int(stem)) if stem.isdigit() else None

            kwargs["classes"] = rule
        else:
            kwargs.setdefault("classes", None)
        return cls(root / split, root / "annotations" / f"ood_seg_{split}", **kwargs)


class RgbaFolderSource(IndexedOutlierSource):
    """Outlier objects from RGBA cut-outs (``*.png`` / ``*.webp``, searched recursively).

    Object pixels are those with alpha > ``alpha_threshold`` (127). The default class rule
    ``"folder"`` takes the first sub-folder under ``directory`` (``dir/cones/a.png`` -> cones;
    files directly in ``directory`` have no class).
    """

    SUFFIXES = (".png", ".webp")

    def __init__(self, directory: str | os.PathLike, *, alpha_threshold: int = 127,
                 classes: ClassRule = "folder"):
        self.directory = Path(directory)
        self.alpha_threshold = int(alpha_threshold)
        self.description = f"RGBA folder {self.directory}"
        _require_dir(self.directory, "the RGBA cut-out folder")
        files = sorted(p for p in self.directory.rglob("*") if p.suffix.lower() in self.SUFFIXES and p.is_file())
        if not files:
            raise ValueError(
                f"the outlier pool is empty: {self.directory} has no RGBA cut-outs ({', '.join(self.SUFFIXES)})"
            )
        self._entries = []
        for p in files:
            rel = p.relative_to(self.directory)
            folder = rel.parts[0] if len(rel.parts) > 1 else None
            name = rel.with_suffix("").as_posix()
            self._entries.append(SampleEntry(name=name, class_name=_resolve_class(classes, p.stem, folder), key=p))

    def _load(self, entry: SampleEntry) -> OutlierObject:
        rgba = read_rgba(entry.key)
        mask = rgba[..., 3] > self.alpha_threshold
        if not mask.any():
            raise ValueError(
                f"{entry.key}: the cut-out has no object pixel (no alpha above {self.alpha_threshold}); "
                "remove it or fix its alpha channel"
            )
        return crop_to_object(np.ascontiguousarray(rgba[..., :3]), mask, entry.name, entry.class_name,
                              what=str(entry.key))
