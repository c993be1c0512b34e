"""The generic anomaly-benchmark loader: a folder of images beside a folder of labels.

The Fishyscapes / Road Anomaly preprocessed layout (and the embedded benchmark's test sets)::

    <root>/original/<stem>.png|.jpg|.jpeg|.webp     RGB image
    <root>/labels/<stem><label_suffix>.png          uint8: 0 inlier, 1 anomaly, 255 not evaluated

Images and labels are paired by stem. Other encodings are converted on load with
``label_map`` (a dict ``{on_disk: project}`` or a ``(256,)`` lookup table; values not in the
dict are kept), after which every value must be in ``{0, 1, 255}``.

Item ``i`` (sorted by stem) is ``{"image": uint8 (H, W, 3), "label": uint8 (H, W), "name": stem}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pebal.data.image_io import IMAGE_EXTENSIONS, read_image, read_label
from pebal.labels import EVAL_VALUES


def _label_lut(label_map) -> np.ndarray | None:
    if label_map is None:
        return None
    if isinstance(label_map, Mapping):
        lut = np.arange(256, dtype=np.uint8)
        for raw, new in label_map.items():
            if not (0 <= int(raw) <= 255 and 0 <= int(new) <= 255):
                raise ValueError(f"label_map entries must map 0..255 to 0..255, got {raw!r}: {new!r}")
            lut[int(raw)] = int(new)
        return lut
    lut = np.asarray(label_map)
    if lut.shape != (256,):
        raise ValueError(f"label_map must be a dict or a (256,) lookup table, got shape {lut.shape}")
    return lut.astype(np.uint8)


def _list_by_stem(folder: Path, extensions: tuple[str, ...], suffix: str = "") -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in extensions:
            continue
        stem = path.stem
        if suffix:
            if not stem.endswith(suffix):
                continue
            stem = stem[: -len(suffix)]
        if stem in found:
            raise ValueError(f"two files with the stem {stem!r} in {folder}: {found[stem].name} and {path.name}")
        found[stem] = path
    return found


class FolderDataset:
    """Images in ``root/images`` paired by stem with labels in ``root/labels``.

    Args:
        root: the data set folder.
        images: sub-folder of the images (``.png``, ``.jpg``, ``.jpeg``, ``.webp``).
        labels: sub-folder of the label maps (``.png``).
        label_map: optional conversion of on-disk label values to ``0 / 1 / 255``.
        label_suffix: text between the stem and ``.png`` in label names
            (e.g. ``"_labels_semantic"`` for SMIYC).

    Raises at construction if a folder is missing, a folder is empty, or an image has no
    label (or a label no image); at item access if a file is unreadable, the label's size
    differs from the image's, or a label value is outside ``{0, 1, 255}`` after mapping.
    """

    def __init__(self, root: str | os.PathLike, images: str = "original", labels: str = "labels",
                 label_map=None, label_suffix: str = ""):
        self.root = Path(root)
        self.image_dir = self.root / images
        self.label_dir = self.root / labels
        for folder, what in ((self.image_dir, "images"), (self.label_dir, "labels")):
            if not folder.is_dir():
                raise FileNotFoundError(f"{what} folder not found: {folder} (expected the layout "
                                        f"{self.root}/{images}/<name>.png and {self.root}/{labels}/<name>.png)")
        self._lut = _label_lut(label_map)
        image_files = _list_by_stem(self.image_dir, IMAGE_EXTENSIONS)
        label_files = _list_by_stem(self.label_dir, (".png",), label_suffix)
        no_label = sorted(set(image_files) - set(label_files))
        no_image = sorted(set(label_files) - set(image_files))
        if no_label or no_image:
            parts = []
            if no_label:
                parts.append(f"{len(no_label)} image(s) without a label in {self.label_dir} "
                             f"(e.g. {', '.join(no_label[:3])})")
            if no_image:
                parts.append(f"{len(no_image)} label(s) without an image in {self.image_dir} "
                             f"(e.g. {', '.join(no_image[:3])})")
            raise ValueError(f"unpaired files in {self.root}: " + "; ".join(parts))
        if not image_files:
            raise ValueError(f"no images found in {self.image_dir} (extensions {', '.join(IMAGE_EXTENSIONS)})")
        self.names = sorted(image_files)
        self._pairs = [(image_files[n], label_files[n]) for n in self.names]

    def __len__(self) -> int:
        return len(self._pairs)

    def paths(self, index: int) -> tuple[Path, Path]:
        """(image path, label path) of item ``index``."""
        return self._pairs[index]

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items in {self.root}")
        image_path, label_path = self._pairs[index]
        image = read_image(image_path)
        label = read_label(label_path)
        if self._lut is not None:
            label = self._lut[label]
        if label.shape != image.shape[:2]:
            raise ValueError(f"size mismatch: label {label_path} is {label.shape[1]}x{label.shape[0]} "
                             f"but image {image_path} is {image.shape[1]}x{image.shape[0]} (width x height)")
        found = np.unique(label)
        bad = found[~np.isin(found, EVAL_VALUES)]
        if bad.size:
            raise ValueError(f"label {label_path}: values {bad.tolist()} outside {list(EVAL_VALUES)} "
                             f"(found {found.tolist()}); pass label_map= to convert this encoding")
        return {"image": image, "label": label, "name": self.names[index]}

    def __repr__(self) -> str:
        return f"FolderDataset({str(self.root)!r}, {len(self)} items)"
