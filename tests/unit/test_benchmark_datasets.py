"""Each benchmark loader on a tiny copy of its exact on-disk layout, written by the test."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pebal.data import open_dataset
from pebal.data.image_io import write_jpeg, write_png

H, W = 6, 8


def rgb(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def label_of(values, h: int = H, w: int = W) -> np.ndarray:
    """A label map holding ``values`` in row-major order, repeated."""
    flat = np.resize(np.asarray(values, dtype=np.uint8), h * w)
    return flat.reshape(h, w)


# --- Cityscapes -----------------------------------------------------------------------

# label id -> train id, from the cityscapesScripts table (road 7->0, sidewalk 8->1,
# car 26->13, bicycle 33->18, unlabeled 0 and static 4 -> 255)
CITYSCAPES_IDS = [7, 8, 26, 33, 0, 4]
CITYSCAPES_TRAIN = [0, 1, 13, 18, 255, 255]


def make_cityscapes(root: Path, split: str = "val") -> dict:
    frames = {}
    for i, (city, frame) in enumerate([("aachen", "aachen_000000_000019"), ("bonn", "bonn_000001_000019"),
                                       ("bonn", "bonn_000002_000019")]):
        image = rgb(i)
        write_png(root / "leftImg8bit" / split / city / f"{frame}_leftImg8bit.png", image)
        gt = root / "gtFine" / split / city
        if i < 2:
            write_png(gt / f"{frame}_gtFine_labelIds.png", label_of(CITYSCAPES_IDS))
            # a stale trainIds file beside it must not be used
            write_png(gt / f"{frame}_gtFine_labelTrainIds.png", label_of([3]))
        else:
            write_png(gt / f"{frame}_gtFine_labelTrainIds.png", label_of([5, 255, 18]))
        frames[frame] = image
    return frames


def test_cityscapes_label_ids_become_train_ids(tmp_path):
    frames = make_cityscapes(tmp_path)
    ds = open_dataset("cityscapes", tmp_path, split="val")
    assert len(ds) == 3 and ds.names == sorted(frames)
    item = ds[0]
    assert item["name"] == "aachen_000000_000019"
    np.testing.assert_array_equal(item["image"], frames["aachen_000000_000019"])
    np.testing.assert_array_equal(item["label"], label_of(CITYSCAPES_TRAIN))
    assert item["label"].dtype == np.uint8
    np.testing.assert_array_equal(ds[2]["label"], label_of([5, 255, 18]))  # trainIds taken as they are


def test_cityscapes_errors_name_the_file(tmp_path):
    make_cityscapes(tmp_path)
    write_png(tmp_path / "leftImg8bit/val/bonn/bonn_000009_000019_leftImg8bit.png", rgb(9))
    with pytest.raises(ValueError, match="1 image\\(s\\) without a label.*bonn_000009_000019"):
        open_dataset("cityscapes", tmp_path)
    with pytest.raises(ValueError, match="unknown Cityscapes split 'valid'"):
        open_dataset("cityscapes", tmp_path, split="valid")


def test_cityscapes_unexpected_label_value(tmp_path):
    make_cityscapes(tmp_path)
    bad = tmp_path / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png"
    write_png(bad, label_of([7, 40]))
    ds = open_dataset("cityscapes", tmp_path)
    with pytest.raises(ValueError, match=r"aachen_000000_000019_gtFine_labelIds.png: values \[40\]"):
        ds[0]


# --- LostAndFound ---------------------------------------------------------------------

def png_with_gamma(array: np.ndarray) -> bytes:
    """A PNG with a gAMA chunk (gamma 1/2.2) right after IHDR, as LostAndFound's images have."""
    from pebal.data.png_writer import encode_png

    data = encode_png(array)
    payload = b"gAMA" + struct.pack(">I", 45455)
    chunk = struct.pack(">I", 4) + payload + struct.pack(">I", zlib.crc32(payload))
    return data[:33] + chunk + data[33:]


LAF_FRAMES = [
    "01_Hanns_Klemm_Str_45_000006_000100",  # bicycle frame (testNoKnown drops it)
    "02_Hanns_Klemm_Str_44_000000_000050",
    "02_Hanns_Klemm_Str_44_000001_000070",  # empty label (testNoKnown drops it)
    "15_Rechbergstr_Deckenpfronn_000000_000010",  # children (testNoKnown drops it)
]


def make_lostandfound(root: Path, split: str = "test") -> dict:
    images = {}
    for i, fid in enumerate(LAF_FRAMES):
        scene = "_".join(fid.split("_")[:-2])
        image = rgb(10 + i)
        path = root / "leftImg8bit" / split / scene / f"{fid}_leftImg8bit.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_with_gamma(image))
        values = [0] if i == 2 else [0, 1, 2, 37, 200]
        write_png(root / "gtCoarse" / split / scene / f"{fid}_gtCoarse_labelIds.png", label_of(values))
        write_png(root / "gtCoarse" / split / scene / f"{fid}_gtCoarse_instanceIds.png", label_of([9]))
        images[fid] = image
    return images


def test_lostandfound_remaps_label_ids_and_ignores_gamma(tmp_path):
    images = make_lostandfound(tmp_path)
    ds = open_dataset("lostandfound", tmp_path)
    assert ds.names == LAF_FRAMES
    item = ds[1]
    path = ds.paths(1)[0]
    assert Image.open(path).info.get("gamma") == pytest.approx(0.45455)  # the chunk is there
    np.testing.assert_array_equal(item["image"], images[LAF_FRAMES[1]])  # and was not applied
    # default for the test split: PEBAL's convention, the non-hazard id 37 is not evaluated
    assert ds.label_convention == "pebal"
    np.testing.assert_array_equal(item["label"], label_of([255, 0, 1, 255, 1]))
    np.testing.assert_array_equal(ds[2]["label"], np.full((H, W), 255, np.uint8))
    smiyc = open_dataset("lostandfound", tmp_path, convention="smiyc")
    np.testing.assert_array_equal(smiyc[1]["label"], label_of([255, 0, 1, 1, 1]))  # every object is anomaly
    np.testing.assert_array_equal(open_dataset("lostandfound-smiyc", tmp_path)[1]["label"], smiyc[1]["label"])


def test_lostandfound_test_no_known(tmp_path):
    make_lostandfound(tmp_path)
    ds = open_dataset("lostandfound", tmp_path, split="testNoKnown")
    assert ds.names == ["02_Hanns_Klemm_Str_44_000000_000050"]
    assert any("dropped 2 frames with children or bicycles and 1 frames" in n for n in ds.scan.notes)


def test_lostandfound_value_outside_encoding(tmp_path):
    make_lostandfound(tmp_path, split="train")
    scene = "02_Hanns_Klemm_Str_44"
    write_png(tmp_path / f"gtCoarse/train/{scene}/{LAF_FRAMES[1]}_gtCoarse_labelIds.png", label_of([1, 201]))
    ds = open_dataset("lostandfound", tmp_path, split="train")
    with pytest.raises(ValueError, match=r"values \[201\] are not part of the LostAndFound train \(pebal labels\) encoding "
                                         r"\(valid on-disk values: 0-200"):
        ds[1]


# --- Fishyscapes, Road Anomaly, SMIYC, StreetHazards ------------------------------------

def make_folder_pair(root: Path, names, ext: str = ".png", values=(0, 1, 255), label_suffix: str = "",
                     label_dir: str = "labels", image_dir: str = "original") -> dict:
    images = {}
    for i, name in enumerate(names):
        image = rgb(20 + i)
        if ext == ".png":
            write_png(root / image_dir / f"{name}.png", image)
        elif ext == ".jpg":
            write_jpeg(root / image_dir / f"{name}.jpg", image)
        else:
            (root / image_dir).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / image_dir / f"{name}{ext}", lossless=True)
        if label_dir is not None:
            write_png(root / label_dir / f"{name}{label_suffix}.png", label_of(values))
        images[name] = image
    return images


@pytest.mark.parametrize("name,subset,count", [("fishyscapes-laf", "LostAndFound", 2),
                                               ("fishyscapes-static", "Static", 3)])
def test_fishyscapes_both_root_forms(tmp_path, name, subset, count):
    images = make_folder_pair(tmp_path / subset, [f"{i:04d}" for i in range(count)])
    for root in (tmp_path, tmp_path / subset):
        ds = open_dataset(name, root)
        assert len(ds) == count
        np.testing.assert_array_equal(ds[0]["image"], images["0000"])
        np.testing.assert_array_equal(ds[0]["label"], label_of([0, 1, 255]))


def test_road_anomaly_preprocessed_layout(tmp_path):
    make_folder_pair(tmp_path, ["animals01", "cones02"], ext=".jpg", values=(0, 1))
    ds = open_dataset("road-anomaly", tmp_path)
    assert ds.names == ["animals01", "cones02"]
    item = ds[1]
    assert item["image"].shape == (H, W, 3)
    np.testing.assert_array_equal(item["label"], label_of([0, 1]))


def test_road_anomaly_original_release_layout(tmp_path):
    names = ["animals01_Guardian_1.jpg", "zebra.jpg"]
    (tmp_path / "frames").mkdir()
    (tmp_path / "frame_list.json").write_text(json.dumps(names))
    for i, n in enumerate(names):
        write_jpeg(tmp_path / "frames" / n, rgb(30 + i))
        write_png(tmp_path / "frames" / f"{Path(n).stem}.labels" / "labels_semantic.png", label_of([0, 1, 2]))
    ds = open_dataset("road-anomaly", tmp_path)
    assert ds.names == ["animals01_Guardian_1", "zebra"]
    np.testing.assert_array_equal(ds[0]["label"], label_of([0, 0, 1]))  # background, road, anomaly


def make_smiyc(root: Path, track: str, ext: str, n_val: int, n_test: int) -> dict:
    base = root / track
    images = make_folder_pair(base, [f"validation{i}" for i in range(n_val)], ext=ext, values=(0, 1, 255),
                              label_suffix="_labels_semantic", label_dir="labels_masks", image_dir="images")
    images.update(make_folder_pair(base, [f"test{i}" for i in range(n_test)], ext=ext, label_dir=None,
                                   image_dir="images"))
    return images


def test_smiyc_splits(tmp_path):
    make_smiyc(tmp_path, "dataset_AnomalyTrack", ".jpg", 2, 3)
    val = open_dataset("smiyc-anomaly", tmp_path)
    assert val.names == ["validation0", "validation1"]
    np.testing.assert_array_equal(val[1]["label"], label_of([0, 1, 255]))
    test = open_dataset("smiyc-anomaly", tmp_path / "dataset_AnomalyTrack", split="test")
    assert test.names == ["test0", "test1", "test2"] and test[0]["label"] is None
    assert len(open_dataset("smiyc-anomaly", tmp_path, split="all")) == 5


def test_smiyc_obstacle_webp(tmp_path):
    base = tmp_path / "dataset_ObstacleTrack"
    images = make_folder_pair(base, ["validation_1"], ext=".webp", label_suffix="_labels_semantic",
                              label_dir="labels_masks", image_dir="images")
    images.update(make_folder_pair(base, ["gravel_boot_1"], ext=".webp", label_dir=None, image_dir="images"))
    ds = open_dataset("smiyc-obstacle", tmp_path)
    np.testing.assert_array_equal(ds[0]["image"], images["validation_1"])  # lossless WebP
    np.testing.assert_array_equal(ds[0]["label"], label_of([0, 1, 255]))
    assert open_dataset("smiyc-obstacle", tmp_path, split="test").names == ["gravel_boot_1"]


def test_smiyc_obstacle_splits_are_the_benchmarks_scene_lists(tmp_path):
    """ObstacleTrack-test is a list of scenes (no snowstorm, night or validation), -validation the
    validation scene minus ten frame prefixes; a label file decides nothing."""
    base = tmp_path / "dataset_ObstacleTrack"
    labelled = ["validation_1", "validation_19", "validation_20", "validation_25", "snowstorm1_bag_1"]
    unlabelled = ["curvy-street_bottle_1", "one-way-street_cone_2", "darkasphalt2_dog_1", "snowstorm2_x_3",
                  "driveway_cones_1", "paving_boot_4", "extra_thing_1"]
    make_folder_pair(base, labelled, ext=".webp", label_suffix="_labels_semantic", label_dir="labels_masks",
                     image_dir="images")
    make_folder_pair(base, unlabelled, ext=".webp", label_dir=None, image_dir="images")
    names = lambda split: open_dataset("smiyc-obstacle", tmp_path, split=split).names  # noqa: E731
    assert names("test") == ["curvy-street_bottle_1", "darkasphalt2_dog_1", "one-way-street_cone_2", "paving_boot_4"]
    assert names("validation") == ["validation_1", "validation_20"]
    assert names("all") == sorted(set(labelled + unlabelled) - {"extra_thing_1"})
    ds = open_dataset("smiyc-obstacle", tmp_path, split="all")
    assert ds[ds.names.index("snowstorm1_bag_1")]["label"] is not None  # labels are used where present
    assert ds[ds.names.index("driveway_cones_1")]["label"] is None
    assert any("1 frame(s) of scenes the benchmark does not know" in n for n in ds.scan.notes)
    # a validation frame without its label is a problem, not a test frame
    (base / "labels_masks" / "validation_1_labels_semantic.png").unlink()
    with pytest.raises(ValueError, match="1 image\\(s\\) without a label.*validation_1.webp"):
        open_dataset("smiyc-obstacle", tmp_path, split="validation")


def test_streethazards(tmp_path):
    for split_dir, names in [("test/images/t5", ["300", "301"]), ("train/images/training/t1", ["10"])]:
        for i, name in enumerate(names):
            write_png(tmp_path / split_dir / f"{name}.png", rgb(40 + i))
            write_png(tmp_path / split_dir.replace("images", "annotations") / f"{name}.png",
                      label_of([1, 2, 13, 14, 15]))
    test = open_dataset("streethazards", tmp_path)
    assert test.names == ["t5/300", "t5/301"]
    np.testing.assert_array_equal(test[0]["label"], label_of([0, 0, 0, 1, 1]))
    train = open_dataset("streethazards", tmp_path, split="train")
    assert train.names == ["t1/10"]
    write_png(tmp_path / "test/annotations/t5/301.png", label_of([0, 3]))
    with pytest.raises(ValueError, match=r"values \[0\]"):
        test[1]


# --- COCO -----------------------------------------------------------------------------

def make_coco(root: Path) -> None:
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "height": 480, "width": 500},  # kept
        {"id": 2, "file_name": "000000000002.jpg", "height": 480, "width": 500},  # has a car: dropped
        {"id": 3, "file_name": "000000000003.jpg", "height": 300, "width": 500},  # too small: dropped
    ]
    cats = [{"id": 3, "name": "car"}, {"id": 22, "name": "elephant"}]
    anns = [
        {"id": 10, "image_id": 1, "category_id": 22, "iscrowd": 0, "area": 600,
         "segmentation": [[10, 20, 40, 20, 40, 40, 10, 40]], "bbox": [10, 20, 30, 20]},
        {"id": 11, "image_id": 2, "category_id": 3, "iscrowd": 0, "area": 100,
         "segmentation": [[0, 0, 10, 0, 10, 10]], "bbox": [0, 0, 10, 10]},
        {"id": 12, "image_id": 3, "category_id": 22, "iscrowd": 0, "area": 100,
         "segmentation": [[0, 0, 10, 0, 10, 10]], "bbox": [0, 0, 10, 10]},
    ]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats}))
    for im in images:
        write_jpeg(root / "train2017" / im["file_name"], rgb(im["id"], im["height"], im["width"]))


def test_coco_instances_selection_and_mask(tmp_path):
    pytest.importorskip("pycocotools")
    make_coco(tmp_path)
    ds = open_dataset("coco-ood", tmp_path)
    assert ds.source == "instances" and len(ds) == 1
    item = ds[0]
    assert item["name"] == "000000000001" and item["image"].shape == (480, 500, 3)
    label = item["label"]
    assert set(np.unique(label).tolist()) == {254, 255}
    # the polygon is the rectangle x 10..40, y 20..40; its interior is object, far pixels are void
    assert label[30, 25] == 254 and label[5, 5] == 255 and label[30, 45] == 255
    assert 500 <= (label == 254).sum() <= 700


def test_coco_meta_ood_masks_paired_by_integer_id(tmp_path):
    mask = np.zeros((H, W), np.uint8)
    mask[2:4, 3:6] = 254
    write_jpeg(tmp_path / "train2017" / "000000000139.jpg", rgb(1))
    write_jpeg(tmp_path / "train2017" / "000000000285.jpg", rgb(2))  # not selected: no mask
    write_png(tmp_path / "annotations" / "ood_seg_train2017" / "139.png", mask)
    ds = open_dataset("coco-ood", tmp_path)
    assert ds.source == "masks" and len(ds) == 1
    item = ds[0]
    assert item["name"] == "000000000139"
    np.testing.assert_array_equal(item["label"], np.where(mask == 254, 254, 255))


# --- laziness -------------------------------------------------------------------------

def test_loaders_read_files_only_on_access(tmp_path, monkeypatch):
    import pebal.data.paired as paired

    make_cityscapes(tmp_path)
    calls = []
    real = paired.read_image
    monkeypatch.setattr(paired, "read_image", lambda p: calls.append(p) or real(p))
    ds = open_dataset("cityscapes", tmp_path)
    assert calls == []
    ds[-1]
    assert calls == [ds.paths(2)[0]]
    with pytest.raises(IndexError, match="out of range for the 3 items"):
        ds[3]
