"""COCO as an outlier-exposure data set (``coco-ood``): whole images with their object mask.

Two layouts are read:

* ``instances``: ``<root>/train2017/*.jpg`` and ``<root>/annotations/instances_train2017.json``;
  the images are selected by Meta-OoD's rule and the object mask is the union of all instance
  masks of an image (both by :class:`pebal.data.outliers.CocoOutlierSource`, shared with the
  AnomalyMix outlier pool);
* ``masks``: Meta-OoD's preprocessed masks ``<root>/annotations/ood_seg_train2017/<id>.png``
  (0 background, 254 object) beside ``<root>/train2017/<id>.jpg``; the images are those that
  have a mask (Meta-OoD wrote masks for its selection only). Masks and images are paired by
  the integer image id, so ``139.png`` and ``000000000139.jpg`` match.

Item label: ``254`` (:data:`pebal.labels.OUTLIER_INDEX`) on object pixels and ``255``
(void) elsewhere. The background of a COCO photo is neither an inlier class nor an anomaly,
so it is ignored rather than labelled 0; a training pipeline pastes the 254 pixels into a
Cityscapes frame (AnomalyMix) and the 255 pixels are never used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pebal.data.image_io import read_image
from pebal.data.paired import PairedDataset, Sample, Scan, label_table, list_files
from pebal.labels import IGNORE_INDEX, OUTLIER_INDEX

MASK_TABLE = label_table({0: IGNORE_INDEX, OUTLIER_INDEX: OUTLIER_INDEX})
SOURCES = ("auto", "instances", "masks")


def _mask_dir(root: Path, split: str) -> Path:
    return root / "annotations" / f"ood_seg_{split}"


def _resolve_source(root: Path, split: str, source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown COCO source {source!r}; valid: {', '.join(SOURCES)}")
    if source == "auto":
        return "masks" if _mask_dir(root, split).is_dir() else "instances"
    return source


def _int_key(key: str) -> str:
    return str(int(key)) if key.isdigit() else key


def scan_coco_masks(root: str | os.PathLike, split: str = "train2017") -> Scan:
    """Pair Meta-OoD masks with COCO images by integer id."""
    root = Path(root)
    scan = Scan(root)
    for folder in (root / split, _mask_dir(root, split)):
        if not folder.is_dir():
            scan.notes.append(f"{folder} is missing")
    images = {_int_key(k): p for k, p in list_files(root / split, "").items()}
    masks = {_int_key(k): p for k, p in list_files(_mask_dir(root, split), "", (".png",)).items()}
    for key in sorted(masks, key=lambda k: (len(k), k)):
        if key in images:
            scan.samples.append(Sample(images[key].stem, images[key], masks[key], MASK_TABLE))
        else:
            scan.unmatched_labels.append(masks[key])
    skipped = len(set(images) - set(masks))
    if skipped:
        scan.notes.append(f"{skipped} images without a mask are not part of the selection")
    return scan


class _CocoInstances:
    """Selected COCO images with the union of their instance masks, read lazily."""

    def __init__(self, root: Path, split: str) -> None:
        from pebal.data.outliers.coco import CocoOutlierSource

        # the pool decides the selection; its entries keep what is needed to rebuild a mask
        self.pool = CocoOutlierSource(root, split=split)
        self.selection = self.pool.selection

    def __len__(self) -> int:
        return len(self.pool)

    def entry(self, index: int):
        return self.pool._entries[index]  # noqa: SLF001  (the pool's selection, read-only)

    def item(self, index: int) -> dict:
        from pebal.data.outliers.coco import decode_instance_union

        entry = self.entry(index)
        file_name, height, width, anns = entry.key
        path = self.pool.images_dir / file_name
        image = read_image(path)
        if image.shape[:2] != (height, width):
            raise ValueError(f"{path} is {image.shape[1]}x{image.shape[0]} (WxH) but "
                             f"{self.pool.annotation_file} says {width}x{height}")
        label = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
        label[decode_instance_union(anns, height, width)] = OUTLIER_INDEX
        return {"image": image, "label": label, "name": entry.name}


def scan_coco(root: str | os.PathLike, split: str = "train2017", source: str = "auto") -> Scan:
    """What ``coco-ood`` would load; in ``instances`` mode the images are checked to exist."""
    root = Path(root)
    if _resolve_source(root, split, source) == "masks":
        return scan_coco_masks(root, split)
    scan = Scan(root)
    try:
        data = _CocoInstances(root, split)
    except (FileNotFoundError, ValueError) as exc:
        scan.notes.append(str(exc))
        return scan
    for i in range(len(data)):
        entry = data.entry(i)
        path = data.pool.images_dir / entry.key[0]
        if path.is_file():
            scan.samples.append(Sample(entry.name, path, None, None, annotation=entry.key[1:]))
        else:
            scan.missing_files.append(path)
    scan.notes.append("selection: " + ", ".join(f"{k} {v}" for k, v in data.selection.items()))
    return scan


#: images whose masks ``pebal data check`` decodes when no ``--max-labels`` is given
DEFAULT_MASK_SAMPLE = 100


@dataclass
class MaskSample:
    """Object masks of a sample of images, decoded (what ``pebal data check`` reports).

    ``coverage`` maps an image name to the fraction of its pixels that are object;
    ``polygons`` / ``rle`` count the annotations decoded by kind (``rle``: crowd or compressed
    run-length encodings); ``empty`` lists images whose mask has no pixel (they would paste
    nothing); ``failed`` lists ``"<image>: <error>"`` for masks that could not be decoded.
    """

    decoded: int
    of: int
    polygons: int = 0
    rle: int = 0
    coverage: dict[str, float] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.decoded > 0 and not (self.empty or self.failed or self.size_mismatch)

    def format(self) -> str:
        kinds = f" ({self.polygons} polygon and {self.rle} RLE annotations)" if self.polygons or self.rle else ""
        lines = [f"object masks decoded: {self.decoded} of {self.of} images{kinds}"]
        if self.coverage:
            values = np.array(list(self.coverage.values()))
            lo, hi = min(self.coverage, key=self.coverage.get), max(self.coverage, key=self.coverage.get)
            lines.append(f"object coverage (share of image pixels): mean {100 * values.mean():.2f}%, "
                         f"min {100 * self.coverage[lo]:.2f}% ({lo}), max {100 * self.coverage[hi]:.2f}% ({hi})")
        if self.empty:
            lines.append(f"{len(self.empty)} empty object mask(s), e.g. {self.empty[0]}")
        lines.extend(f"mask not decodable: {f}" for f in self.failed[:5])
        lines.extend(f"size mismatch: {f}" for f in self.size_mismatch[:5])
        return "\n".join(lines)


def _spread(count: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(count)`` (all of them if ``k >= count``)."""
    if k >= count:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(k - 1, 1)) for i in range(k)})


def inspect_masks(scan: Scan, max_images: int | None = None) -> MaskSample:
    """Decode the object masks of a deterministic sample of ``scan``'s images.

    The sample is ``max_images`` (default :data:`DEFAULT_MASK_SAMPLE`) images spread evenly
    over the selection, plus the first image with an RLE annotation and the first with a
    polygon if the spread missed them, so that both encodings are decoded at least once.
    """
    from PIL import Image

    from pebal.data.image_io import read_label
    from pebal.data.outliers.coco import decode_instance_union

    samples = scan.samples
    k = DEFAULT_MASK_SAMPLE if max_images is None else max_images
    chosen = _spread(len(samples), k)
    if k > 0:
        for is_rle in (True, False):
            has_kind = [i for i, s in enumerate(samples) if s.annotation is not None
                        and any(isinstance(a.get("segmentation"), dict) == is_rle for a in s.annotation[2])]
            if has_kind and not any(i in has_kind for i in chosen):
                chosen = sorted(set(chosen) | {has_kind[0]})
    result = MaskSample(decoded=0, of=len(samples))
    for i in chosen:
        sample = samples[i]
        try:
            if sample.annotation is not None:
                height, width, anns = sample.annotation
                with Image.open(sample.image) as im:
                    if im.size != (width, height):
                        result.size_mismatch.append(f"{sample.image} is {im.size[0]}x{im.size[1]}, the "
                                                    f"annotation file says {width}x{height}")
                mask = decode_instance_union(anns, height, width)
                for ann in anns:
                    segm = ann.get("segmentation")
                    if segm:
                        result.rle += isinstance(segm, dict)
                        result.polygons += isinstance(segm, list)
            else:
                mask = read_label(sample.label) == OUTLIER_INDEX
        except Exception as exc:  # pycocotools raises several kinds on malformed input
            result.failed.append(f"{sample.name}: {exc}")
            continue
        result.decoded += 1
        result.coverage[sample.name] = float(mask.mean())
        if not mask.any():
            result.empty.append(sample.name)
    return result


class CocoOODDataset:
    """COCO images for outlier exposure; labels 254 (object) / 255 (void).

    Args:
        root: the COCO folder.
        split: ``train2017`` (default) or another COCO split folder name.
        source: ``"auto"`` (masks if ``annotations/ood_seg_<split>/`` exists), ``"instances"``
            or ``"masks"``.
    """

    default_split = "train2017"
    official_counts: dict[str, int] = {}  # the size of the selection is not published
    discover = staticmethod(scan_coco)
    inspect_masks = staticmethod(inspect_masks)

    def __init__(self, root: str | os.PathLike, split: str = "train2017", source: str = "auto") -> None:
        self.root = Path(root)
        self.source = _resolve_source(self.root, split, source)
        if self.source == "masks":
            self._data = PairedDataset(scan_coco_masks(self.root, split), f"COCO Meta-OoD masks {split}")
        else:
            self._data = _CocoInstances(self.root, split)

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} COCO images")
        if self.source == "masks":
            return self._data[index]
        return self._data.item(index % len(self))

    def __repr__(self) -> str:
        return f"CocoOODDataset({str(self.root)!r}, {self.source}, {len(self)} items)"
