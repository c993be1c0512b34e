"""Outlier sources: folder layouts, COCO selection, RGBA cut-outs, seeded subsets, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pebal.data.outliers import (
    CocoOutlierSource,
    MaskFolderSource,
    ObjectListSource,
    OutlierObject,
    OutlierSource,
    RgbaFolderSource,
    subset_by_class_fraction,
    subset_by_count,
    subset_by_sample_fraction,
)

# ----------------------------------------------------------------------------- helpers


def _write_pair(images_dir, masks_dir, stem, image, mask, image_suffix=".png"):
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(images_dir / f"{stem}{image_suffix}")
    Image.fromarray(mask).save(masks_dir / f"{stem}.png")


def _object(rng, h, w, rows, cols):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[rows, cols] = 254
    return image, mask


@pytest.fixture
def embedded_root(tmp_path):
    """ROOT/outlier_exposure/{images,masks}: 3 families with 2, 3 and 1 samples."""
    rng = np.random.default_rng(0)
    base = tmp_path / "outlier_exposure"
    for family, n in (("cone", 2), ("box", 3), ("tyre", 1)):
        for k in range(n):
            image, mask = _object(rng, 10, 12, slice(2, 5), slice(3, 8))
            mask[2, 3] = 0  # not a rectangle: the crop is the bounding box, the mask keeps its shape
            _write_pair(base / "images", base / "masks", f"{family}_{k:05d}", image, mask)
    return tmp_path


def _list_source(classes_and_counts):
    objects = []
    for cls, n in classes_and_counts:
        for k in range(n):
            objects.append((np.full((2, 2, 3), k, np.uint8), np.ones((2, 2), bool), cls, f"{cls}_{k}"))
    return ObjectListSource(objects)


# ----------------------------------------------------------------------------- mask folders


def test_embedded_family_crops_to_bounding_box_and_reads_classes(embedded_root):
    src = MaskFolderSource.embedded(embedded_root)
    assert isinstance(src, OutlierSource)
    assert len(src) == 6
    assert src.classes == ["box", "cone", "tyre"]
    assert src.sample_classes == ("box", "box", "box", "cone", "cone", "tyre")  # sorted by file name
    obj = src[3]
    assert isinstance(obj, OutlierObject)
    assert obj.name == "cone_00000" and obj.class_name == "cone"
    image = np.asarray(Image.open(embedded_root / "outlier_exposure/images/cone_00000.png"))
    mask = np.asarray(Image.open(embedded_root / "outlier_exposure/masks/cone_00000.png")) == 254
    np.testing.assert_array_equal(obj.image, image[2:5, 3:8])
    np.testing.assert_array_equal(obj.mask, mask[2:5, 3:8])
    assert obj.mask.dtype == bool and not obj.mask[0, 0] and obj.mask.sum() == 14


def test_meta_ood_layout_with_and_without_annotation_file(tmp_path):
    rng = np.random.default_rng(1)
    for img_id in (139, 285):
        image, mask = _object(rng, 8, 9, slice(1, 6), slice(2, 4))
        _write_pair(tmp_path / "train2017", tmp_path / "annotations/ood_seg_train2017",
                    f"{img_id:012d}", image, mask, image_suffix=".jpg")
    # an image of train2017 that Meta-OoD did not select: no mask, not in the pool
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "train2017/000000000001.jpg")

    src = MaskFolderSource.meta_ood(tmp_path)
    assert src.names == ("000000000139", "000000000285")
    assert src.sample_classes == (None, None) and src.classes == []
    obj = src[0]
    jpg = np.asarray(Image.open(tmp_path / "train2017/000000000139.jpg").convert("RGB"))
    np.testing.assert_array_equal(obj.image, jpg[1:6, 2:4])
    assert obj.mask.all() and obj.mask.shape == (5, 2)
    with pytest.raises(ValueError, match="have no class"):
        subset_by_class_fraction(src, 0.5, np.random.default_rng(0))

    ann = {"images": [{"id": 139, "file_name": "000000000139.jpg", "height": 8, "width": 9},
                      {"id": 285, "file_name": "000000000285.jpg", "height": 8, "width": 9}],
           "annotations": [{"id": 1, "image_id": 139, "category_id": 18, "area": 10.0, "segmentation": []},
                           {"id": 2, "image_id": 139, "category_id": 17, "area": 30.0, "segmentation": []},
                           {"id": 3, "image_id": 285, "category_id": 18, "area": 5.0, "segmentation": []}],
           "categories": [{"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]}
    (tmp_path / "annotations/instances_train2017.json").write_text(json.dumps(ann))
    src = MaskFolderSource.meta_ood(tmp_path, tmp_path / "annotations/instances_train2017.json")
    assert src.sample_classes == ("cat", "dog")  # 139: the larger instance is the cat


def test_empty_mask_is_an_error_naming_the_file_and_scan_skips_it(tmp_path):
    rng = np.random.default_rng(2)
    good_image, good_mask = _object(rng, 6, 6, slice(1, 3), slice(1, 3))
    _write_pair(tmp_path / "images", tmp_path / "masks", "a_00000", good_image, good_mask)
    _write_pair(tmp_path / "images", tmp_path / "masks", "a_00001", good_image, np.zeros((6, 6), np.uint8))
    src = MaskFolderSource(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(ValueError, match=r"a_00001\.png.*no object pixel"):
        src[1]
    scanned = MaskFolderSource(tmp_path / "images", tmp_path / "masks", scan=True)
    assert scanned.names == ("a_00000",) and scanned.skipped == ["a_00001"]


def test_mask_folder_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match=r"the outlier pool is empty: .*masks has no mask files"):
        MaskFolderSource(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MaskFolderSource(tmp_path / "nope", tmp_path / "masks")

    rng = np.random.default_rng(3)
    image, mask = _object(rng, 6, 7, slice(1, 3), slice(1, 3))
    _write_pair(tmp_path / "images", tmp_path / "masks", "x_00000", image, mask[:5])  # mask one row short
    src = MaskFolderSource(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(ValueError, match=r"x_00000\.png is 7x6 .* mask .*x_00000\.png is 7x5"):
        src[0]
    with pytest.raises(ValueError, match="x_00000.png is 7x6"):
        MaskFolderSource(tmp_path / "images", tmp_path / "masks", scan=True)

    Image.fromarray(mask).save(tmp_path / "masks/orphan_00000.png")
    with pytest.raises(ValueError, match=r"orphan_00000\.png"):
        MaskFolderSource(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "masks/orphan_00000.png").unlink()

    colour = np.zeros((6, 7, 3), np.uint8)
    colour[..., 0] = 254  # a colour-coded "mask"
    Image.fromarray(colour).save(tmp_path / "masks/x_00000.png")
    with pytest.raises(ValueError, match=r"x_00000\.png.*single-channel"):
        MaskFolderSource(tmp_path / "images", tmp_path / "masks")[0]


# ----------------------------------------------------------------------------- RGBA


def test_rgba_folder_alpha_threshold_and_folder_classes(tmp_path):
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., :3] = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    rgba[1, 1, 3] = 127  # exactly at the threshold: not object
    rgba[1, 2, 3] = 128
    rgba[3, 4, 3] = 255
    (tmp_path / "cones").mkdir()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cones/a.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "loose.png")
    src = RgbaFolderSource(tmp_path)
    assert src.names == ("cones/a", "loose")
    assert src.sample_classes == ("cones", None)
    obj = src[0]
    np.testing.assert_array_equal(obj.image, rgba[1:4, 2:5, :3])
    expected = np.zeros((3, 3), bool)
    expected[0, 0] = expected[2, 2] = True
    np.testing.assert_array_equal(obj.mask, expected)


def test_rgba_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="the outlier pool is empty"):
        RgbaFolderSource(tmp_path)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb\.png: expected an RGBA cut-out.*found mode 'RGB'"):
        RgbaFolderSource(tmp_path)[0]
    (tmp_path / "rgb.png").unlink()
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), "RGBA").save(tmp_path / "clear.png")
    with pytest.raises(ValueError, match=r"clear\.png: the cut-out has no object pixel"):
        RgbaFolderSource(tmp_path)[0]


# ----------------------------------------------------------------------------- COCO


def _rle(mask):
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


@pytest.fixture
def coco_root(tmp_path):
    """A tiny COCO: 7 images exercising every selection rule."""
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 17, "name": "cat"},
            {"id": 18, "name": "dog"}]
    sizes = {1: (500, 600), 2: (500, 600), 3: (479, 640), 4: (480, 480), 5: (500, 600), 6: (500, 600),
             7: (640, 480)}
    images, anns = [], []
    rng = np.random.default_rng(5)
    (tmp_path / "train2017").mkdir()
    for img_id, (h, w) in sizes.items():
        name = f"{img_id:012d}.jpg"
        images.append({"id": img_id, "file_name": name, "height": h, "width": w})
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "train2017" / name)

    def add(img_id, cat, segm, area, crowd=0):
        anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat, "segmentation": segm,
                     "area": area, "iscrowd": crowd, "bbox": [0, 0, 1, 1]})

    dog = np.zeros((500, 600), bool)
    dog[100:140, 200:260] = True
    # image 1: a dog (RLE, 2400 px) and a cat (polygon, ~1600 px) -> kept, class dog
    add(1, 18, _rle(dog), 2400.0)
    add(1, 17, [[300.0, 300.0, 340.0, 300.0, 340.0, 340.0, 300.0, 340.0]], 1600.0)
    add(2, 18, _rle(dog), 2400.0)                       # image 2: dog + car -> dropped
    add(2, 3, _rle(dog[:, ::-1]), 2400.0)
    add(3, 17, _rle(np.ones((479, 640), bool)), 1.0)    # image 3: 479 px high -> dropped
    small = np.zeros((480, 480), bool)
    small[10:20, 30:35] = True
    add(4, 17, _rle(small), 50.0)                       # image 4: 480x480 -> kept (boundary)
    # image 5: no annotation -> dropped
    add(6, 1, _rle(dog), 2400.0, crowd=1)               # image 6: a crowd of persons -> dropped
    tall = np.zeros((640, 480), bool)
    tall[600:610, 0:3] = True
    add(7, 18, _rle(tall), 30.0)                        # image 7: 480 wide, 640 high -> kept
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/instances_train2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return tmp_path


def test_coco_selection_rule(coco_root):
    src = CocoOutlierSource(coco_root)
    assert src.names == ("000000000001", "000000000004", "000000000007")
    assert src.sample_classes == ("dog", "cat", "dog")
    assert src.selection == {"images": 7, "excluded_category": 2, "too_small": 1, "no_instance": 1, "kept": 3}


@pytest.mark.filterwarnings("ignore:.*__array__ implementation:DeprecationWarning")
def test_coco_mask_is_the_union_of_instances(coco_root):
    from pycocotools.coco import COCO

    coco = COCO(str(coco_root / "annotations/instances_train2017.json"))
    union = np.zeros((500, 600), bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=1)):
        union |= coco.annToMask(ann).astype(bool)
    rows, cols = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    assert rows[0] == 100 and cols[0] == 200  # the dog's corner starts the box

    obj = CocoOutlierSource(coco_root)[0]
    np.testing.assert_array_equal(obj.mask, union[box])
    image = np.asarray(Image.open(coco_root / "train2017/000000000001.jpg").convert("RGB"))
    np.testing.assert_array_equal(obj.image, image[box])
    assert obj.mask[0:40, 0:60].all()  # the whole dog rectangle
    assert obj.mask[210:230, 110:130].all()  # inside the cat polygon (rows 300-340, cols 300-340)
    assert not obj.mask[50, 50]


def test_coco_errors(coco_root):
    with pytest.raises(ValueError, match=r"the outlier pool is empty: no image .* passes the selection"):
        CocoOutlierSource(coco_root, min_short_side=10_000)
    with pytest.raises(ValueError, match=r"\['lorry'\] are not categories"):
        CocoOutlierSource(coco_root, excluded_categories=("car", "lorry"))
    with pytest.raises(FileNotFoundError, match="COCO annotation file not found"):
        CocoOutlierSource(coco_root, coco_root / "missing.json")
    Image.fromarray(np.zeros((480, 481, 3), np.uint8)).save(coco_root / "train2017/000000000004.jpg")
    with pytest.raises(ValueError, match=r"000000000004\.jpg is 481x480 .* says 480x480"):
        CocoOutlierSource(coco_root)[1]


# ----------------------------------------------------------------------------- subsets


def test_class_fraction_keeps_whole_classes_and_is_seeded():
    src = _list_source([("a", 3), ("b", 1), ("c", 4), ("d", 2), ("e", 5)])
    sub = subset_by_class_fraction(src, 0.4, np.random.default_rng(7))
    kept = set(sub.classes)
    assert len(kept) == 2  # round(0.4 * 5)
    counts = dict([("a", 3), ("b", 1), ("c", 4), ("d", 2), ("e", 5)])
    assert len(sub) == sum(counts[c] for c in kept)  # every sample of a kept class
    assert sub.names == tuple(n for n in src.names if n.split("_")[0] in kept)  # source order kept
    again = subset_by_class_fraction(src, 0.4, np.random.default_rng(7))
    assert again.names == sub.names
    picks = {tuple(subset_by_class_fraction(src, 0.4, np.random.default_rng(s)).classes) for s in range(20)}
    assert len(picks) > 3  # the seed matters
    assert len(subset_by_class_fraction(src, 0.01, np.random.default_rng(0)).classes) == 1  # at least one
    assert subset_by_class_fraction(src, 1.0, np.random.default_rng(0)).names == src.names


def test_sample_fraction_and_count():
    src = _list_source([("a", 6), ("b", 4)])
    assert len(subset_by_sample_fraction(src, 0.25, np.random.default_rng(0))) == 3  # 2.5 rounds up
    assert len(subset_by_sample_fraction(src, 0.01, np.random.default_rng(0))) == 1
    sub = subset_by_count(src, 4, np.random.default_rng(11))
    assert len(sub) == 4 and len(set(sub.names)) == 4
    assert sub.names == subset_by_count(src, 4, np.random.default_rng(11)).names
    positions = [src.names.index(n) for n in sub.names]
    assert positions == sorted(positions)
    for i in range(len(sub)):  # a subset serves the same objects as its source
        assert sub[i] is src[positions[i]]
    with pytest.raises(ValueError, match=r"count must be an integer in \[1, 10\]"):
        subset_by_count(src, 11, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        subset_by_sample_fraction(src, 0.0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        subset_by_count(src, 2, 0)


def test_subset_of_a_subset_and_index_errors():
    src = _list_source([("a", 5)])
    sub = src.subset([4, 1, 3]).subset([2, 0])
    assert sub.names == ("a_3", "a_4")
    with pytest.raises(IndexError, match="out of range"):
        src.subset([5])
    with pytest.raises(IndexError, match="out of range"):
        src[5]
    with pytest.raises(ValueError, match="the outlier pool is empty"):
        ObjectListSource([])
