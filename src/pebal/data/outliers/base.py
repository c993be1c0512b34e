"""The outlier-object type, the ``OutlierSource`` protocol and a shared base class.

An outlier source is a sized, indexable pool of objects cut out of outlier-exposure images
(COCO, Meta-OoD's preprocessed masks, the embedded benchmark's outlier family, RGBA
cut-outs). Item ``i`` is an :class:`OutlierObject`: the RGB pixels and the boolean object
mask of the **bounding box of all object pixels** (as the reference AnomalyMix crops).

Sources list their samples (name and class) when built and read pixels lazily, so a pool
of 100k COCO images costs nothing until an object is drawn. Errors about a file's content
(no object pixel, image/mask size mismatch) are therefore raised when that item is read.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, eq=False)
class OutlierObject:
    """One outlier object, cropped to the bounding box of its pixels.

    Attributes:
        image: uint8 (h, w, 3) RGB pixels of the bounding box.
        mask: bool (h, w), True on object pixels; every row and column holds at least one.
        class_name: the object's class (``None`` when the source does not know it).
        name: a stable identifier of the sample (file stem or image id).
    """

    image: np.ndarray
    mask: np.ndarray
    class_name: str | None
    name: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape


@runtime_checkable
class OutlierSource(Protocol):
    """What AnomalyMix and the subset helpers need from a pool of outlier objects."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> OutlierObject: ...

    @property
    def classes(self) -> list[str]:
        """Sorted distinct class names of the samples (``None`` classes left out)."""
        ...

    @property
    def sample_classes(self) -> tuple[str | None, ...]:
        """The class of each sample, in index order, known without reading pixels."""
        ...

    def subset(self, indices: Sequence[int]) -> OutlierSource:
        """A source holding only the samples ``indices`` (in that order)."""
        ...


@dataclass(frozen=True)
class SampleEntry:
    """What a source knows about a sample before reading it: its name, class and files."""

    name: str
    class_name: str | None
    key: object  # source-specific: paths or an image id


class IndexedOutlierSource:
    """Base class: a list of :class:`SampleEntry` plus a ``_load(entry)`` to read one.

    Subclasses fill ``self._entries`` in ``__init__`` and implement ``_load`` returning an
    :class:`OutlierObject` (usually through :func:`crop_to_object`).
    """

    _entries: list[SampleEntry]
    description: str = "outlier source"

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> OutlierObject:
        n = len(self._entries)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.description} with {n} samples")
        return self._load(self._entries[index])

    def _load(self, entry: SampleEntry) -> OutlierObject:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self._entries)

    @property
    def sample_classes(self) -> tuple[str | None, ...]:
        return tuple(e.class_name for e in self._entries)

    @property
    def classes(self) -> list[str]:
        return sorted({e.class_name for e in self._entries if e.class_name is not None})

    def subset(self, indices: Sequence[int]) -> IndexedOutlierSource:
        n = len(self._entries)
        picked = []
        for i in indices:
            i = int(i)
            if not 0 <= i < n:
                raise IndexError(f"subset index {i} out of range for {self.description} with {n} samples")
            picked.append(self._entries[i])
        # A shallow copy shares the (read-only) loader state, e.g. a pycocotools index.
        view = copy.copy(self)
        view._entries = picked
        return view

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, {len(self)} samples, {len(self.classes)} classes)"


def crop_to_object(image: np.ndarray, mask: np.ndarray, name: str, class_name: str | None,
                   what: str) -> OutlierObject:
    """Crop ``image`` (H, W, 3) and ``mask`` (H, W) bool to the bounding box of the mask.

    ``what`` names the files in error messages. Raises ``ValueError`` when the sizes differ
    or the mask has no object pixel.
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(
            f"{what}: image is {image.shape[1]}x{image.shape[0]} (WxH) but its mask is "
            f"{mask.shape[1]}x{mask.shape[0]}; an outlier image and its mask must have the same size"
        )
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError(f"{what}: the mask has no object pixel; remove the sample or fix its mask")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return OutlierObject(
        image=np.ascontiguousarray(image[r0:r1, c0:c1]),
        mask=np.ascontiguousarray(mask[r0:r1, c0:c1]),
        class_name=class_name,
        name=name,
    )


def class_from_prefix(stem: str) -> str | None:
    """``"cone_00012"`` -> ``"cone"``: the part before a trailing ``_<digits>``, else None."""
    head, sep, tail = stem.rpartition("_")
    if sep and head and tail.isdigit():
        return head
    return None


class ObjectListSource(IndexedOutlierSource):
    """An in-memory pool: a list of ``(image (h, w, 3) uint8, mask (h, w) bool, class, name)``.

    Each object is cropped to the bounding box of its mask on construction. Useful for
    tests and for objects generated on the fly.
    """

    def __init__(self, objects, description: str = "in-memory objects"):
        self.description = description
        self._objects: dict[str, OutlierObject] = {}
        entries = []
        for i, (image, mask, class_name, name) in enumerate(objects):
            image, mask = np.asarray(image), np.asarray(mask)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"object {name!r}: expected a uint8 RGB image (h, w, 3), got {image.dtype} {image.shape}")
            if mask.dtype != bool:
                raise ValueError(f"object {name!r}: the mask must be bool, got {mask.dtype}")
            if name in self._objects:
                raise ValueError(f"object name {name!r} is used twice; names must be unique")
            obj = crop_to_object(image, mask, name, class_name, what=f"object {name!r}")
            # Every draw returns these same arrays: make accidental in-place edits fail loudly.
            obj.image.flags.writeable = False
            obj.mask.flags.writeable = False
            self._objects[name] = obj
            entries.append(SampleEntry(name=name, class_name=class_name, key=name))
        if not entries:
            raise ValueError(f"the outlier pool is empty: {description} has no object")
        self._entries = entries

    def _load(self, entry: SampleEntry) -> OutlierObject:
        return self._objects[entry.key]
