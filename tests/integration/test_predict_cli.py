"""``pebal predict`` and ``pebal export`` end to end on tiny images, a broken file and a video."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from pebal.cli import main
from pebal.inference.predictor import Predictor

from conftest import scaled_pebal_checkpoint  # noqa: E402

Y = 19


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return scaled_pebal_checkpoint(tmp_path_factory.mktemp("ckpt"), seed=2)


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    images = {"a": rng.integers(0, 256, (64, 128, 3), dtype=np.uint8),
              "sub/b": rng.integers(0, 256, (48, 96, 3), dtype=np.uint8)}
    Image.fromarray(images["a"]).save(folder / "a.png")
    Image.fromarray(images["sub/b"]).save(folder / "sub" / "b.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    video = tmp_path / "drive.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (96, 48))
    for _ in range(3):
        writer.write(rng.integers(0, 256, (48, 96, 3), dtype=np.uint8))
    writer.release()
    return folder, video, images


def test_predict_writes_everything_and_reports_failures(tmp_path, checkpoint, inputs, capsys):
    folder, video, images = inputs
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(checkpoint), str(folder), str(video), str(tmp_path / "nope.png"),
               "--out", str(out), "--threshold", "-11", "--batch-size", "2"])
    assert rc == 1  # two inputs failed, the rest ran
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "nope.png" in captured.err and "2 input(s) failed" in captured.err
    assert "predicted 3 of 5 inputs" in captured.out

    summary = json.loads((out / "predictions.json").read_text())
    assert [r["name"] for r in summary["outputs"]] == ["a", "sub/b", "drive"]
    assert {f["input"].split("/")[-1] for f in summary["failures"]} == {"broken.jpg", "nope.png"}
    assert summary["threshold"] == -11.0 and summary["score_range"] == [-20.0, 0.0]

    # the score map equals the library's prediction on the same pixels
    reference = Predictor(checkpoint, device="cpu", threshold=-11).predict(images["a"])
    np.testing.assert_allclose(np.load(out / "a_score.npy"), reference.score, atol=1e-5)
    mask = np.asarray(Image.open(out / "a_mask.png"))
    np.testing.assert_array_equal(mask == 255, reference.mask)
    for suffix in ("heatmap.png", "segmentation.png", "final.png", "overlay.png", "input.jpg"):
        assert (out / f"a_{suffix}").is_file() and (out / f"sub/b_{suffix}").is_file()

    assert summary["outputs"][2]["frames"] == 3
    frames = cv2.VideoCapture(str(out / "drive_overlay.mp4"))
    count = 0
    while frames.read()[0]:
        count += 1
    assert count == 3

    page = (out / "index.html").read_text()
    for name in ("a_heatmap.png", "sub/b_overlay.png", "drive_final.png", "colorbar.png", "broken.jpg"):
        assert name in page


def test_predict_uses_the_calibrated_threshold_and_sliding_window(tmp_path, checkpoint, inputs):
    from pebal.models.checkpoint import update_metadata

    folder, _, images = inputs
    calibrated = tmp_path / "cal.safetensors"
    calibrated.write_bytes(checkpoint.read_bytes())
    update_metadata(calibrated, threshold=-9.0, heatmap_range=[-16.0, -4.0])
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(calibrated), str(folder / "a.png"), "--out", str(out),
               "--window", "32", "64", "--no-gallery", "--no-score"])
    assert rc == 0
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["threshold"] == -9.0 and summary["score_range"] == [-16.0, -4.0]
    assert summary["window"] == [32, 64]
    assert not (out / "index.html").exists() and not (out / "a_score.npy").exists()
    assert (out / "a_mask.png").is_file()


def test_export_command(tmp_path, checkpoint, capsys):
    out = tmp_path / "m.onnx"
    rc = main(["export", "--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out),
               "--verify-size", "40", "72"])
    assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    diff = float(text.split("max |score diff| ")[1].split(",")[0])
    assert diff < 1e-4


def test_calibrate_then_predict(tmp_path, checkpoint, capsys):
    from pebal.models.checkpoint import read_metadata

    rng = np.random.default_rng(3)
    root = tmp_path / "val"
    (root / "original").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)).save(root / "original" / f"v{i}.png")
        label = np.zeros((40, 64), np.uint8)
        label[10:20, 20:40] = 1
        label[:, :2] = 255
        Image.fromarray(label).save(root / "labels" / f"v{i}.png")
    ckpt = tmp_path / "cal.safetensors"
    ckpt.write_bytes(checkpoint.read_bytes())

    assert main(["calibrate", "--checkpoint", str(ckpt), "--dataset", str(root), "--rule", "best-f1"]) == 0
    text = capsys.readouterr().out
    meta = read_metadata(ckpt)
    assert meta["calibration"]["rule"] == "best-f1" and meta["calibration"]["dataset"] == "folder"
    assert meta["calibration"]["operating_point"]["f1"] > 0
    assert f"stored threshold {meta['threshold']:.6g}" in text

    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(ckpt), str(root / "original" / "v0.png"), "--out", str(out)]) == 0
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["threshold"] == meta["threshold"] and summary["score_range"] == meta["heatmap_range"]
    assert (out / "v0_mask.png").is_file()

    capsys.readouterr()
    assert main(["calibrate", "--checkpoint", str(ckpt), "--dataset", str(root), "--rule", "tpr90"]) == 2
    assert "pebal calibrate: error: unknown calibration rule" in capsys.readouterr().err
