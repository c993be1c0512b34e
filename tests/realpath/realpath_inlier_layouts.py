"""Cityscapes and COCO 2017 in their release layouts, tiny and seeded.

Cityscapes (cityscapesScripts layout, ``gtFine_trainvaltest`` + ``leftImg8bit_trainvaltest``)::

    leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_{color,instanceIds,labelIds}.png
    gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_polygons.json

(``*_gtFine_labelTrainIds.png`` is not in the release; ``train_ids=True`` adds it as users who
ran ``createTrainIdLabelImgs`` have it.) The test split's labels are dummies (unlabeled and
ego vehicle only), as in the release.

COCO 2017 (``train2017.zip`` + ``annotations_trainval2017.zip``)::

    train2017/<12-digit id>.jpg
    annotations/instances_train2017.json   (info, licenses, images, annotations, categories)

Objects are polygons (``iscrowd 0``, possibly several parts) and crowds as uncompressed RLE
(``iscrowd 1``, ``{"counts": [...], "size": [h, w]}``, column-major runs starting with
background), with the real COCO category ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .realpath_scenes import (
    CAR,
    PERSON,
    cityscapes_colour,
    paint,
    save_jpeg,
    save_png,
    street_label_ids,
)

CITYSCAPES_FRAMES = {
    "train": ["aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313", "bochum_000000_000600"],
    "val": ["frankfurt_000000_000294", "lindau_000000_000019"],
    "test": ["berlin_000000_000019"],
}
CITYSCAPES_SIZE = (64, 128)  # H, W (the release: 1024 x 2048)


def write_cityscapes(root: Path, size: tuple[int, int] = CITYSCAPES_SIZE, seed: int = 0,
                     train_ids: bool = False, frames: dict[str, list[str]] | None = None) -> Path:
    """Write the Cityscapes tree under ``root``; returns ``root``."""
    from cityscapesscripts.helpers.labels import id2label

    frames = CITYSCAPES_FRAMES if frames is None else frames
    rng = np.random.default_rng(seed)
    h, w = size
    lut_train = np.full(256, 255, np.uint8)
    for i, lab in id2label.items():
        if 0 <= i < 256 and 0 <= lab.trainId < 255:
            lut_train[i] = lab.trainId
    for split, names in frames.items():
        for name in names:
            city = name.split("_")[0]
            scene = street_label_ids(h, w, rng)
            # the test split's labels in the release are dummies: unlabeled and ego vehicle only
            ids = np.where(scene == 1, 1, 0).astype(np.uint8) if split == "test" else scene
            colours = {i: id2label[i].color for i in np.unique(scene).tolist()}
            image = paint(scene, colours, rng)
            save_png(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", image)
            gt = root / "gtFine" / split / city
            save_png(gt / f"{name}_gtFine_labelIds.png", ids)
            save_png(gt / f"{name}_gtFine_color.png", cityscapes_colour(ids))
            instances = ids.astype(np.uint16)
            for cls in (CAR, PERSON):
                instances[ids == cls] = cls * 1000
            save_png(gt / f"{name}_gtFine_instanceIds.png", instances)
            objects = [{"label": id2label[int(i)].name, "polygon": _box_polygon(ids == i)}
                       for i in np.unique(ids).tolist()]
            (gt / f"{name}_gtFine_polygons.json").write_text(
                json.dumps({"imgHeight": h, "imgWidth": w, "objects": objects}, indent=1))
            if train_ids:
                save_png(gt / f"{name}_gtFine_labelTrainIds.png", lut_train[ids])
    return root


def _box_polygon(mask: np.ndarray) -> list[list[int]]:
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


# --- COCO ---------------------------------------------------------------------------------

#: real COCO ids and names of the categories the fixture uses (the excluded ones first)
COCO_CATEGORIES = {
    1: ("person", "person"), 2: ("bicycle", "vehicle"), 3: ("car", "vehicle"), 4: ("motorcycle", "vehicle"),
    6: ("bus", "vehicle"), 8: ("truck", "vehicle"), 10: ("traffic light", "outdoor"),
    13: ("stop sign", "outdoor"), 20: ("sheep", "animal"), 22: ("elephant", "animal"), 23: ("bear", "animal"),
    24: ("zebra", "animal"), 25: ("giraffe", "animal"), 28: ("umbrella", "accessory"),
}


def rle_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a bool (H, W) mask: run lengths of the column-major pixel
    sequence, starting with the (possibly empty) background run."""
    flat = mask.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return runs if flat[0] == 0 else [0] + runs


def _rect(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    return [float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]


def _crowd_mask(h: int, w: int) -> np.ndarray:
    """A herd region with a hole: rows 300-379, columns 40-239, minus a 20 x 20 square."""
    m = np.zeros((h, w), bool)
    m[300:380, 40:240] = True
    m[330:350, 100:120] = False
    return m


def coco_fixture_spec() -> tuple[list[dict], list[dict]]:
    """(images, annotations) of ``instances_train2017.json``; what each image tests is in
    :data:`COCO_EXPECTED`."""
    images = [  # (id, height, width)
        (9, 480, 640), (25, 640, 480), (30, 480, 640), (34, 480, 640), (36, 375, 500), (42, 480, 640),
        (49, 480, 640),
    ]
    img = [{"license": 1, "file_name": f"{i:012d}.jpg",
            "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
            "height": h, "width": w, "date_captured": "2013-11-14 16:28:13", "flickr_url": "", "id": i}
           for i, h, w in images]
    crowd = _crowd_mask(480, 640)
    anns = [
        # 9: one elephant polygon (kept)
        (101, 9, 22, 0, [_rect(100, 120, 300, 360)]),
        # 25: a giraffe in two parts and an umbrella (kept; portrait image)
        (102, 25, 25, 0, [_rect(50, 100, 150, 300), _rect(200, 100, 260, 500)]),
        (103, 25, 28, 0, [_rect(300, 400, 420, 520)]),
        # 30: a sheep polygon and a crowd of sheep as RLE (kept)
        (104, 30, 20, 0, [_rect(400, 100, 520, 200)]),
        (105, 30, 20, 1, {"counts": rle_counts(crowd), "size": [480, 640]}),
        # 34: a zebra next to a car (dropped: car)
        (106, 34, 24, 0, [_rect(10, 10, 200, 200)]),
        (107, 34, 3, 0, [_rect(300, 300, 400, 400)]),
        # 36: a bear on a small image (dropped: shorter side 375 < 480)
        (108, 36, 23, 0, [_rect(10, 10, 200, 200)]),
        # 42: no annotation (dropped: nothing to paste)
        # 49: a crowd of people (dropped: person, crowd annotations count too)
        (109, 49, 1, 1, {"counts": rle_counts(crowd), "size": [480, 640]}),
    ]
    annotations = []
    for ann_id, image_id, cat, crowd_flag, segm in anns:
        if crowd_flag:
            area = float(crowd.sum())
            ys, xs = np.nonzero(crowd)
        else:
            area = float(sum(abs(p[2] - p[0]) * abs(p[5] - p[1]) for p in segm))
            ys = np.array([y for p in segm for y in p[1::2]])
            xs = np.array([x for p in segm for x in p[0::2]])
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())]
        annotations.append({"segmentation": segm, "area": area, "iscrowd": crowd_flag, "image_id": image_id,
                            "bbox": bbox, "category_id": cat, "id": ann_id})
    return img, annotations


#: what the selection of Meta-OoD / PEBAL must do with the fixture, and the object pixels of
#: each kept image (polygon rectangles by their area, the crowd exactly)
COCO_EXPECTED = {
    "selection": {"images": 7, "excluded_category": 2, "too_small": 1, "no_instance": 1, "kept": 3},
    "kept": ["000000000009", "000000000025", "000000000030"],
    "object_pixels": {
        "000000000009": 200 * 240,
        "000000000025": 100 * 200 + 60 * 400 + 120 * 120,
        "000000000030": 120 * 100 + int(_crowd_mask(480, 640).sum()),
    },
    "image_size": {"000000000009": (480, 640), "000000000025": (640, 480), "000000000030": (480, 640)},
}


def write_coco(root: Path, seed: int = 0) -> Path:
    """Write ``train2017/`` and ``annotations/instances_train2017.json`` under ``root``."""
    rng = np.random.default_rng(seed)
    images, annotations = coco_fixture_spec()
    data = {
        "info": {"description": "COCO 2017 Dataset (pebal test fixture)", "version": "1.0", "year": 2017},
        "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 1, "name": "Attribution License"}],
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": sup, "id": i, "name": name} for i, (name, sup) in COCO_CATEGORIES.items()],
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    for im in images:
        h, w = im["height"], im["width"]
        # a textured background with bright blobs where the annotations are
        canvas = np.zeros((h, w), np.uint8)
        for ann in annotations:
            if ann["image_id"] == im["id"]:
                x, y, bw, bh = (int(v) for v in ann["bbox"])
                canvas[y:y + bh, x:x + bw] = 1 + ann["category_id"] % 7
        colours = {k: tuple(int(c) for c in rng.integers(0, 256, 3)) for k in range(8)}
        save_jpeg(root / "train2017" / im["file_name"], paint(canvas, colours, rng, noise=30))
    return root
