"""``pebal data check``: counts against the official ones, unpaired files, unexpected values."""

from __future__ import annotations

import numpy as np
import pytest

from pebal.cli import main
from pebal.data.check import check_dataset
from pebal.data.image_io import write_png

from test_benchmark_datasets import label_of, make_cityscapes, make_folder_pair, make_smiyc, rgb


def test_report_lists_every_problem(tmp_path):
    make_cityscapes(tmp_path)
    write_png(tmp_path / "leftImg8bit/val/bonn/bonn_000009_000019_leftImg8bit.png", rgb(9))  # no label
    write_png(tmp_path / "gtFine/val/koeln/koeln_000000_000001_gtFine_labelIds.png", label_of([7]))  # no image
    write_png(tmp_path / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png", label_of([7, 40, 41]))
    write_png(tmp_path / "gtFine/val/bonn/bonn_000001_000019_gtFine_labelIds.png", label_of([7], 3, 3))
    report = check_dataset("cityscapes", tmp_path)
    assert report.split == "val" and report.official == 500 and report.found == 3
    assert report.count_matches is False and not report.ok
    assert [p.name for p in report.unmatched_images] == ["bonn_000009_000019_leftImg8bit.png"]
    assert [p.name for p in report.unmatched_labels] == ["koeln_000000_000001_gtFine_labelIds.png"]
    assert sorted(report.unexpected_values) == [40, 41]
    assert len(report.size_mismatch) == 1 and "bonn_000001_000019" in report.size_mismatch[0]
    assert report.labels_read == 3
    # pixel counts of on-disk values over the three decoded labels
    expected = np.bincount(np.concatenate([label_of([7, 40, 41]).ravel(), label_of([7], 3, 3).ravel(),
                                           label_of([5, 255, 18]).ravel()]), minlength=256)
    assert report.value_pixels == {int(v): int(expected[v]) for v in np.flatnonzero(expected)}
    text = report.format()
    assert "found 3 items; MISMATCH: the official release has 500" in text
    assert "1 images without a label" in text and "unexpected label value 40" in text
    assert text.endswith("PROBLEMS FOUND")


def test_max_labels_limits_decoding(tmp_path):
    make_cityscapes(tmp_path)
    report = check_dataset("cityscapes", tmp_path, max_labels=1)
    assert report.labels_read == 1 and report.labels_total == 3 and report.ok


def test_official_count_and_cli_exit_codes(tmp_path, capsys):
    make_folder_pair(tmp_path / "Static", [f"{i:03d}" for i in range(30)])
    assert main(["data", "check", "--dataset", "fishyscapes-static", "--root", str(tmp_path), "--strict"]) == 0
    out = capsys.readouterr().out
    assert "found 30 items; as expected" in out and out.rstrip().endswith("OK")
    (tmp_path / "Static/labels/029.png").unlink()
    assert main(["data", "check", "--dataset", "fishyscapes-static", "--root", str(tmp_path)]) == 1
    assert "1 images without a label" in capsys.readouterr().out


def test_count_mismatch_fails_only_when_strict(tmp_path, capsys):
    make_folder_pair(tmp_path / "LostAndFound", ["a", "b"])
    args = ["data", "check", "--dataset", "fishyscapes-laf", "--root", str(tmp_path)]
    assert main(args) == 0
    assert main(args + ["--strict"]) == 1
    assert "MISMATCH: the official release has 100" in capsys.readouterr().out


def test_smiyc_test_split_expects_no_labels(tmp_path):
    make_smiyc(tmp_path, "dataset_AnomalyTrack", ".jpg", 2, 3)
    report = check_dataset("smiyc-anomaly", tmp_path, split="test")
    assert report.found == 3 and report.official == 100 and report.labels_total == 0 and report.ok


def test_folder_dataset_check_with_label_map(tmp_path):
    make_folder_pair(tmp_path, ["x", "y"], values=(0, 1, 2))
    assert sorted(check_dataset("folder", tmp_path).unexpected_values) == [2]
    assert check_dataset("folder", tmp_path, label_map={2: 1}).ok


def test_empty_folder_is_a_problem(tmp_path, capsys):
    assert main(["data", "check", "--dataset", "lostandfound", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "found 0 items; MISMATCH: the official release has 1203" in out
    assert f"note: {tmp_path}/leftImg8bit/test is missing" in out


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'kitti'; valid names: .*cityscapes"):
        check_dataset("kitti", "/nonexistent")
