"""``pebal data check`` and the loaders on every data set in its release layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pebal.cli import main
from pebal.data import open_dataset
from pebal.data.check import check_dataset

from .realpath_anomaly_layouts import LAF_FRAMES, LAF_TEST_NO_KNOWN, SMIYC_EXPECTED
from .realpath_cli import run_pebal
from .realpath_inlier_layouts import CITYSCAPES_FRAMES, COCO_EXPECTED

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# (data set, RealData attribute, split or None, items found)
CHECKS = [
    ("cityscapes", "cityscapes", "train", 4),
    ("cityscapes", "cityscapes", None, 2),
    ("cityscapes", "cityscapes_train_ids", "val", 2),
    ("coco-ood", "coco", None, 3),
    ("lostandfound", "lostandfound", None, 4),
    ("lostandfound", "lostandfound", "train", 3),
    ("lostandfound", "lostandfound", "testNoKnown", 2),
    ("lostandfound-smiyc", "lostandfound", "test", 4),
    ("fishyscapes-laf", "fishyscapes", None, 2),
    ("fishyscapes-static", "fishyscapes", None, 2),
    ("road-anomaly", "road_anomaly", None, 2),
    ("road-anomaly", "road_anomaly_original", None, 2),
    ("smiyc-anomaly", "smiyc", "validation", 2),
    ("smiyc-anomaly", "smiyc", "test", 3),
    ("smiyc-obstacle", "smiyc", "validation", 2),
    ("smiyc-obstacle", "smiyc", "test", 2),
    ("smiyc-obstacle", "smiyc", "all", 7),
]


@pytest.mark.parametrize("name,attr,split,found", CHECKS,
                         ids=[f"{n}-{s or 'default'}-{a}" for n, a, s, _ in CHECKS])
def test_data_check_every_release_layout(realdata, capsys, name, attr, split, found):
    args = ["data", "check", "--dataset", name, "--root", str(getattr(realdata, attr))]
    args += ["--split", split] if split else []
    assert main(args) == 0
    out = capsys.readouterr().out
    # tiny copies; COCO's selection has no published size
    assert f"found {found} items; MISMATCH: the official release has" in out or (
        name == "coco-ood" and f"found {found} items (no official count known)" in out)
    assert out.rstrip().endswith("OK")
    assert ("label convention:" in out) == name.startswith("lostandfound")
    # every data set that has labels decodes all of them; the loader agrees with the check
    kwargs = {"split": split} if split else {}
    ds = open_dataset(name, getattr(realdata, attr), **kwargs)
    assert len(ds) == found
    item = ds[len(ds) - 1]
    assert item["image"].dtype == np.uint8 and item["image"].ndim == 3
    if item["label"] is not None:
        assert item["label"].shape == item["image"].shape[:2]


def test_data_check_from_another_folder_with_relative_root(realdata):
    """As a user runs it: ``python -m pebal`` in the data folder, a relative ``--root``."""
    proc = run_pebal(["data", "check", "--dataset", "smiyc-obstacle", "--root", "smiyc", "--split", "test"],
                     cwd=realdata.root)
    assert proc.returncode == 0, proc.stderr
    assert "found 2 items" in proc.stdout and proc.stdout.rstrip().endswith("OK")


def test_cityscapes_label_ids_and_train_ids_agree(realdata):
    for split in ("train", "val"):
        a = open_dataset("cityscapes", realdata.cityscapes, split=split)
        b = open_dataset("cityscapes", realdata.cityscapes_train_ids, split=split)
        assert a.names == b.names == sorted(CITYSCAPES_FRAMES[split])
        for i in range(len(a)):
            np.testing.assert_array_equal(a[i]["label"], b[i]["label"])
    label = a[0]["label"]
    assert set(np.unique(label).tolist()) <= {*range(19), 255} and (label == 0).any()  # road is train id 0


def test_coco_check_decodes_polygons_and_crowd_rle(realdata, capsys):
    report = check_dataset("coco-ood", realdata.coco)
    masks = report.masks
    assert masks.decoded == masks.of == 3 and masks.ok
    assert (masks.polygons, masks.rle) == (4, 1)  # the person crowd is in a dropped image
    for name, pixels in COCO_EXPECTED["object_pixels"].items():
        h, w = COCO_EXPECTED["image_size"][name]
        assert masks.coverage[name] == pytest.approx(pixels / (h * w), rel=0.02)
    assert main(["data", "check", "--dataset", "coco-ood", "--root", str(realdata.coco)]) == 0
    out = capsys.readouterr().out
    assert "object masks decoded: 3 of 3 images (4 polygon and 1 RLE annotations)" in out
    assert "object coverage (share of image pixels): mean 14.5" in out
    assert "selection: images 7, excluded_category 2, too_small 1, no_instance 1, kept 3" in out
    # the loaded item's object pixels are the decoded union: the crowd RLE exactly, polygons closely
    ds = open_dataset("coco-ood", realdata.coco)
    assert ds.source == "instances" and [ds[i]["name"] for i in range(len(ds))] == COCO_EXPECTED["kept"]
    label = ds[2]["label"]
    assert (label == 254).sum() == pytest.approx(COCO_EXPECTED["object_pixels"]["000000000030"], rel=0.01)


def test_coco_check_reports_a_mask_that_does_not_decode(realdata, tmp_path, capsys):
    """A broken annotation is found by ``data check`` (it decodes), not at training time."""
    import shutil

    root = tmp_path / "coco"
    shutil.copytree(realdata.coco, root)
    ann = root / "annotations" / "instances_train2017.json"
    data = json.loads(ann.read_text())
    data["annotations"][0]["segmentation"] = [[10.0, 10.0, 20.0]]  # not a polygon
    ann.write_text(json.dumps(data))
    assert main(["data", "check", "--dataset", "coco-ood", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "mask not decodable: 000000000009" in out and out.rstrip().endswith("PROBLEMS FOUND")
    # an image that is not the size the annotation file says
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(root / "train2017" / "000000000025.jpg")
    report = check_dataset("coco-ood", root)
    assert any("000000000025.jpg is 100x100, the annotation file says 480x640" in m for m in report.masks.size_mismatch)


def test_lostandfound_conventions_on_the_release_layout(realdata, capsys):
    """pebal: PEBAL's loader (labelTrainIds; non-hazards not evaluated); smiyc: every object."""
    root = realdata.lostandfound
    pebal = open_dataset("lostandfound", root, split="test")
    smiyc = open_dataset("lostandfound", root, split="test", convention="smiyc")
    assert pebal.label_convention == "pebal" and smiyc.label_convention == "smiyc"
    assert all(p.name.endswith("_gtCoarse_labelTrainIds.png") for p in (s.label for s in pebal.samples))
    assert all(p.name.endswith("_gtCoarse_labelIds.png") for p in (s.label for s in smiyc.samples))
    fid = "02_Hanns_Klemm_Str_44_000000_000050"  # a crate (id 2) and a timber (37, a non-hazard)
    scene = "_".join(fid.split("_")[:-2])
    ids = np.array(Image.open(root / "gtCoarse" / "test" / scene / f"{fid}_gtCoarse_labelIds.png"))
    i = pebal.names.index(fid)
    a, b = pebal[i]["label"], smiyc[i]["label"]
    for value, expect_pebal, expect_smiyc in [(0, 255, 255), (1, 0, 0), (2, 1, 1), (37, 255, 1)]:
        assert (ids == value).any()
        assert set(np.unique(a[ids == value]).tolist()) == {expect_pebal}, value
        assert set(np.unique(b[ids == value]).tolist()) == {expect_smiyc}, value
    # testNoKnown is SMIYC's split: its default is SMIYC's convention
    no_known = open_dataset("lostandfound", root, split="testNoKnown")
    assert no_known.names == LAF_TEST_NO_KNOWN and no_known.label_convention == "smiyc"
    assert len(LAF_FRAMES["test"]) == len(pebal)


def test_lostandfound_pebal_without_train_id_files(realdata, tmp_path):
    import shutil

    root = tmp_path / "laf"
    shutil.copytree(realdata.lostandfound, root)
    for f in root.rglob("*_labelTrainIds.png"):
        f.unlink()
    derived = open_dataset("lostandfound-pebal", root, split="test")
    original = open_dataset("lostandfound", realdata.lostandfound, split="test")
    for i in range(len(original)):
        np.testing.assert_array_equal(derived[i]["label"], original[i]["label"])
    assert any("pebal labels derived from *_gtCoarse_labelIds.png" in n for n in derived.scan.notes)
    with pytest.raises(ValueError, match="uses the pebal convention; got convention='smiyc'"):
        open_dataset("lostandfound-pebal", root, convention="smiyc")


@pytest.mark.parametrize("key", sorted(SMIYC_EXPECTED), ids=lambda k: f"{k[0]}-{k[1]}")
def test_smiyc_splits_are_the_benchmarks(realdata, key):
    names, _ = SMIYC_EXPECTED[key]
    assert open_dataset(key[0], realdata.smiyc, split=key[1]).names == names
