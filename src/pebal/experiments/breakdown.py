"""Where do the methods fail? Per anomaly size and per domain shift, and the inlier model under each shift.

Views of an anomaly test set (Fishyscapes layout, labels 0 / 1 / 255), each evaluated as a
test set of its own by the experiment runner (``breakdown: true`` in an experiment YAML):

* **size bins** (:data:`SIZE_BINS`): the anomaly pixels are split into connected components
  (8-neighbourhood); a bin keeps every inlier pixel and the anomalies whose visible area lies
  in the bin, the other anomaly pixels become 255 (not evaluated). So each bin asks: can the
  score find anomalies of this size among all the inlier pixels?
* **shift types**: the images of one weather / lighting shift (``anomalies.json`` of the
  embedded benchmark records each image's shift), inlier and anomaly pixels as they are.

:func:`shifted_miou` measures the inlier model's mIoU on the val scenes re-rendered under each
shift (the same street, objects and camera as val scene ``i``; only the shift and the
camera's noise differ), next to the unshifted val scenes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pebal.labels import ANOMALY, IGNORE_INDEX

#: (name, lowest visible pixels, highest + 1 or None) of each anomaly-size bin.
SIZE_BINS = (("<64 px", 0, 64), ("64-255 px", 64, 256), (">=256 px", 256, None))
_EIGHT = np.ones((3, 3), bool)


def keep_component_sizes(label: np.ndarray, low: int, high: int | None) -> np.ndarray:
    """``label`` (H, W) 0 / 1 / 255 with every anomaly component whose pixel count is outside
    ``[low, high)`` set to 255."""
    from scipy import ndimage

    components, n = ndimage.label(label == ANOMALY, structure=_EIGHT)
    if n == 0:
        return label
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    outside = (sizes < low) | (sizes >= high if high is not None else False)
    outside[0] = False
    out = label.copy()
    out[outside[components]] = IGNORE_INDEX
    return out


class SizeBinView:
    """A test set whose anomalies outside one size bin are not evaluated."""

    def __init__(self, base, low: int, high: int | None):
        self.base, self.low, self.high = base, low, high

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.base[index])
        item["label"] = keep_component_sizes(item["label"], self.low, self.high)
        return item


class SubsetView:
    """The items ``indices`` of a test set."""

    def __init__(self, base, indices: list[int]):
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.base[self.indices[index]]


def image_shifts(dataset) -> list[str | None] | None:
    """Each image's shift from ``anomalies.json`` beside the set's folders (None if no such file)."""
    path = Path(dataset.root) / "anomalies.json"
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    missing = [n for n in dataset.names if n not in meta]
    if missing:
        raise ValueError(f"{path} has no entry for image(s) {missing[:3]} of {dataset.root}; regenerate the benchmark")
    return [meta[n].get("shift") for n in dataset.names]


def component_sizes(dataset) -> np.ndarray:
    """Pixel counts of every connected anomaly (8-neighbourhood) over all images of ``dataset``."""
    from scipy import ndimage

    sizes = []
    for i in range(len(dataset)):
        components, n = ndimage.label(dataset[i]["label"] == ANOMALY, structure=_EIGHT)
        sizes.append(np.bincount(components.ravel(), minlength=n + 1)[1:])
    return np.concatenate(sizes) if sizes else np.zeros(0, np.int64)


def breakdown_sets(test_sets: dict) -> dict:
    """``{"<set> | <bin>": view}`` for every size bin of every set that holds an anomaly of that
    size, and ``{"<set> | <shift>": view}`` for every shift type of the sets whose images carry one."""
    views: dict = {}
    for name, dataset in test_sets.items():
        sizes = component_sizes(dataset)
        for label, low, high in SIZE_BINS:
            if np.any((sizes >= low) & (sizes < (high if high is not None else np.inf))):
                views[f"{name} | {label}"] = SizeBinView(dataset, low, high)
        shifts = image_shifts(dataset) if hasattr(dataset, "names") else None
        for kind in sorted({s for s in shifts or [] if s is not None}):
            views[f"{name} | {kind}"] = SubsetView(dataset, [i for i, s in enumerate(shifts) if s == kind])
    return views


def shifted_miou(model, seed: int, size: tuple[int, int], num_images: int = 100, batch_size: int = 8,
                 device="cpu", shifts: tuple[str, ...] | None = None) -> dict:
    """mIoU (and per-class IoU) of ``model`` on the first ``num_images`` val scenes of the embedded
    benchmark ``seed`` at ``size``: unshifted (``"none"``) and re-rendered under each shift."""
    from pebal.data.synthetic.effects import SHIFTS
    from pebal.data.synthetic.scene import render_scene
    from pebal.data.synthetic.writer import scene_rng
    from pebal.evaluation.evaluate import evaluate_segmentation

    out = {}
    for kind in (None, *(shifts or SHIFTS)):
        items = []
        for i in range(num_images):
            scene = render_scene(scene_rng(seed, "val", i), tuple(size), shift=kind)
            items.append({"image": scene.image, "label": scene.label, "name": f"val/{i:05d}"})
        result = evaluate_segmentation(items, {"m": model}, model.num_classes, batch_size, device, progress=False)
        out[kind or "none"] = result["m"]
    return out
