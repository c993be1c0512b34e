"""The anomaly benchmarks in their release layouts, tiny and seeded.

* LostAndFound (cityscapesScripts-style release)::

      leftImg8bit/{train,test}/<NN>_<scene>/<NN>_<scene>_<seq>_<frame>_leftImg8bit.png   (with a gAMA chunk)
      gtCoarse/{split}/<NN>_<scene>/..._gtCoarse_{labelIds,labelTrainIds,instanceIds}.png

  label ids: 0 unlabeled / out of ROI, 1 free road, 2..43 objects; ``labelTrainIds`` follow
  the LostAndFound class table (as in PEBAL's and Meta-OoD's loaders): 255 unlabeled, 1 free,
  2 hazard, 0 for the "random non-hazards" 31, 33, 34, 36-39.
* Fishyscapes LostAndFound / Static, the preprocessed layout of SynBoost / PEBAL::

      <root>/{LostAndFound,Static}/original/<name>.png, labels/<name>.png   (0, 1, 255)
* Road Anomaly, preprocessed (``original/*.jpg``, ``labels/*.png`` 0 / 1) and the original
  release (``frame_list.json``, ``frames/<name>.jpg``,
  ``frames/<name>.labels/labels_semantic{,_color}.png`` with 0 background, 1 road, 2 anomaly).
* SegmentMeIfYouCan::

      dataset_AnomalyTrack/images/<fid>.jpg,  labels_masks/<fid>_labels_semantic{,_color}.png
      dataset_ObstacleTrack/images/<fid>.webp, labels_masks/<fid>_labels_semantic{,_color}.png

  labels (validation frames only): 0 inlier / road, 1 anomaly / obstacle, 255 void. The
  ObstacleTrack frame id starts with its scene (``<scene>_<rest>``); the benchmark's split
  is a scene list, see :data:`SMIYC_EXPECTED`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .realpath_scenes import paint, road_scene, save_jpeg, save_png, save_png_with_gamma, save_webp

# --- LostAndFound ---------------------------------------------------------------------------

#: frame id -> object label ids on the road (an empty tuple: an all-zero label map)
LAF_FRAMES = {
    "test": {
        "02_Hanns_Klemm_Str_44_000000_000050": (2, 37),        # crate + timber (a non-hazard)
        "04_Maurener_Weg_8_000001_000090": (17,),               # pylon
        "04_Maurener_Weg_8_000002_000030": (),                  # no labelled pixel at all
        "15_Rechbergstr_Deckenpfronn_000000_000120": (40,),     # a walking child
    },
    "train": {
        "01_Hanns_Klemm_Str_45_000000_000080": (5,),            # grey crate
        "01_Hanns_Klemm_Str_45_000006_000100": (23,),           # bicycle
        "13_Elly_Beinhorn_Str_000000_000050": (31, 22),         # marker pole (non-hazard) + ball
    },
}
LAF_SIZE = (64, 128)  # the release: 1024 x 2048
LAF_NON_HAZARD_IDS = (31, 33, 34, 36, 37, 38, 39)
#: testNoKnown of the fixture: the 15_Rechbergstr frame (children) and the empty one dropped
LAF_TEST_NO_KNOWN = ["02_Hanns_Klemm_Str_44_000000_000050", "04_Maurener_Weg_8_000001_000090"]


def laf_train_id(label_id: int) -> int:
    """LostAndFound's train id of a label id (0 -> 255, 1 -> 1, non-hazards -> 0, others -> 2)."""
    if label_id == 0:
        return 255
    if label_id == 1:
        return 1
    return 0 if label_id in LAF_NON_HAZARD_IDS else 2


def write_lostandfound(root: Path, size: tuple[int, int] = LAF_SIZE, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    h, w = size
    train_lut = np.array([laf_train_id(i) for i in range(256)], np.uint8)
    for split, frames in LAF_FRAMES.items():
        for fid, objects in frames.items():
            scene = "_".join(fid.split("_")[:-2])
            road, _, boxes = road_scene(h, w, rng, n_objects=max(len(objects), 1))
            ids = np.where(road, 1, 0).astype(np.uint8)
            instances = np.zeros((h, w), np.uint16)
            for k, ((y0, y1, x0, x1), obj) in enumerate(zip(boxes, objects)):
                ids[y0:y1, x0:x1] = obj
                instances[y0:y1, x0:x1] = obj * 1000 + k
            if not objects:
                ids[:] = 0
            colours = {0: (90, 120, 80), 1: (110, 110, 115), **{o: (200, 60 + 4 * o, 30) for o in objects}}
            image = paint(ids, colours, rng)
            save_png_with_gamma(root / "leftImg8bit" / split / scene / f"{fid}_leftImg8bit.png", image)
            gt = root / "gtCoarse" / split / scene
            save_png(gt / f"{fid}_gtCoarse_labelIds.png", ids)
            save_png(gt / f"{fid}_gtCoarse_labelTrainIds.png", train_lut[ids])
            save_png(gt / f"{fid}_gtCoarse_instanceIds.png", instances)
    return root


# --- Fishyscapes and Road Anomaly -------------------------------------------------------------

FISHYSCAPES_NAMES = {"LostAndFound": ["0000", "0001"], "Static": ["0000", "0001"]}
FISHYSCAPES_SIZE = (64, 128)  # the release: 1024 x 2048
ROAD_ANOMALY_NAMES = ["animals01_Guardian_1", "cones03_Ruether_2"]
ROAD_ANOMALY_SIZE = (72, 128)  # the release: 720 x 1280


def _eval_frame(h: int, w: int, rng: np.random.Generator,
                void_off_road: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, label 0 / 1 / 255, road mask) of a frame with one object on the road."""
    road, off_road, boxes = road_scene(h, w, rng)
    label = np.zeros((h, w), np.uint8)
    if void_off_road:
        label[off_road] = 255
    y0, y1, x0, x1 = boxes[0]
    label[y0:y1, x0:x1] = 1
    paint_ids = np.where(road, 1, 0).astype(np.uint8)
    paint_ids[label == 1] = 2
    image = paint(paint_ids, {0: (80, 130, 70), 1: (115, 110, 120), 2: (230, 120, 20)}, rng)
    return image, label, road


def write_fishyscapes(root: Path, size: tuple[int, int] = FISHYSCAPES_SIZE, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for subset, names in FISHYSCAPES_NAMES.items():
        for name in names:
            image, label, _ = _eval_frame(*size, rng, void_off_road=True)
            save_png(root / subset / "original" / f"{name}.png", image)
            save_png(root / subset / "labels" / f"{name}.png", label)
    return root


def write_road_anomaly(root: Path, layout: str = "preprocessed", size: tuple[int, int] = ROAD_ANOMALY_SIZE,
                       seed: int = 0) -> Path:
    """``layout``: ``"preprocessed"`` (SynBoost / PEBAL) or ``"original"`` (the release)."""
    rng = np.random.default_rng(seed)
    if layout == "original":
        (root / "frames").mkdir(parents=True, exist_ok=True)
        (root / "frame_list.json").write_text(json.dumps([f"{n}.jpg" for n in ROAD_ANOMALY_NAMES]))
    for name in ROAD_ANOMALY_NAMES:
        image, label, road = _eval_frame(*size, rng, void_off_road=False)
        if layout == "original":
            semantic = np.where(road, 1, 0).astype(np.uint8)
            semantic[label == 1] = 2
            save_jpeg(root / "frames" / f"{name}.jpg", image)
            save_png(root / "frames" / f"{name}.labels" / "labels_semantic.png", semantic)
            colour = np.array([[0, 0, 0], [128, 64, 128], [255, 120, 0]], np.uint8)[semantic]
            save_png(root / "frames" / f"{name}.labels" / "labels_semantic_color.png", colour)
        else:
            save_jpeg(root / "original" / f"{name}.jpg", image)
            save_png(root / "labels" / f"{name}.png", label)
    return root


# --- SegmentMeIfYouCan -----------------------------------------------------------------------

SMIYC_ANOMALY_FRAMES = {"validation0000": True, "validation0001": True, "cones0001": False,
                        "zebra0000": False, "carriage0003": False}  # fid -> has a label file
SMIYC_OBSTACLE_FRAMES = {
    "validation_1": True, "validation_2": True,
    "validation_21": True,          # in ObstacleTrack-all, excluded from -validation by prefix
    "curvy-street_bottle_1": False, "darkasphalt_boot_2": False,   # test scenes
    "snowstorm1_stone_1": False,    # snowstorm: in -all, not in -test
    "driveway_cones_1": False,      # night: in -all, not in -test
}
SMIYC_SIZE = (64, 128)  # the release: 1024 x 2048 (AnomalyTrack, various), 1080 x 1920 (ObstacleTrack)

#: the splits as the benchmark (road-anomaly-benchmark, tracks.py / tracks_extra.py) defines
#: them for the fixture's frames, and the folder under anomaly_p/<method>/ it reads them from
SMIYC_EXPECTED = {
    ("smiyc-anomaly", "validation"): (["validation0000", "validation0001"], "AnomalyTrack-all"),
    ("smiyc-anomaly", "test"): (["carriage0003", "cones0001", "zebra0000"], "AnomalyTrack-all"),
    ("smiyc-obstacle", "validation"): (["validation_1", "validation_2"], "ObstacleTrack-all"),
    ("smiyc-obstacle", "test"): (["curvy-street_bottle_1", "darkasphalt_boot_2"], "ObstacleTrack-all"),
    ("smiyc-obstacle", "all"): (sorted(SMIYC_OBSTACLE_FRAMES), "ObstacleTrack-all"),
}


def write_smiyc(root: Path, size: tuple[int, int] = SMIYC_SIZE, seed: int = 0) -> Path:
    """Write ``dataset_AnomalyTrack/`` and ``dataset_ObstacleTrack/`` under ``root``."""
    rng = np.random.default_rng(seed)
    palette = np.array([[0, 0, 0], [255, 100, 0]] + [[0, 0, 0]] * 253 + [[255, 255, 255]], np.uint8)
    for track, frames, saver, ext in (("dataset_AnomalyTrack", SMIYC_ANOMALY_FRAMES, save_jpeg, "jpg"),
                                      ("dataset_ObstacleTrack", SMIYC_OBSTACLE_FRAMES, save_webp, "webp")):
        for fid, labelled in frames.items():
            image, label, _ = _eval_frame(*size, rng, void_off_road=track == "dataset_ObstacleTrack")
            saver(root / track / "images" / f"{fid}.{ext}", image)
            if labelled:
                save_png(root / track / "labels_masks" / f"{fid}_labels_semantic.png", label)
                save_png(root / track / "labels_masks" / f"{fid}_labels_semantic_color.png", palette[label])
    return root
