"""``pebal predict``, ``pebal calibrate`` and ``pebal export`` end to end on tiny images, a broken
file and a video; the output folder's journal (resume, refusal, --overwrite); non-finite input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pebal.cli import main
from pebal.inference.predictor import Predictor
from pebal.inference.render import robust_range

from conftest import scaled_pebal_checkpoint  # noqa: E402

Y = 19


def _strict_json(path):
    """Parse as strict JSON: NaN / Infinity are refused."""
    def refuse(token):
        raise ValueError(f"{path}: non-standard JSON constant {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


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
    assert "predicted 2 image(s) and 1 video(s)" in captured.out and "2 input(s) failed" in captured.out
    assert "->" not in captured.out + captured.err  # no per-input lines without --verbose

    summary = _strict_json(out / "predictions.json")
    assert summary["status"] == "complete" and summary["inputs"] == 5
    assert [r["name"] for r in summary["outputs"]] == ["a", "sub/b", "drive"]
    assert {f["input"].split("/")[-1] for f in summary["failures"]} == {"broken.jpg", "nope.png"}
    assert summary["threshold"] == -11.0 and summary["threshold_source"] == "argument"

    # the score map equals the library's prediction on the same pixels
    reference = Predictor(checkpoint, device="cpu", threshold=-11).predict(images["a"])
    np.testing.assert_allclose(np.load(out / "a_score.npy"), reference.score, atol=1e-5)
    # no calibrated scale: the robust range of the first input, kept for the run
    assert summary["score_range"] == pytest.approx(list(robust_range(reference.score)), abs=1e-4)
    mask = np.asarray(Image.open(out / "a_mask.png"))
    np.testing.assert_array_equal(mask == 255, reference.mask)
    for suffix in ("heatmap.png", "segmentation.png", "final.png", "overlay.png", "input.jpg"):
        assert (out / f"a_{suffix}").is_file() and (out / f"sub/b_{suffix}").is_file()

    record = summary["outputs"][2]
    assert record["frames"] == 3 and record["kind"] == "video"
    scores = np.load(out / record["files"]["scores"])
    assert scores.shape == (3, 48, 96)  # every frame, not only the first
    assert not (out / "drive_score.npy").exists()
    for key in ("overlay_video", "heatmap_video", "final_video"):
        frames = cv2.VideoCapture(str(out / record["files"][key]))
        count = 0
        while frames.read()[0]:
            count += 1
        assert count == 3, key

    page = (out / "index.html").read_text()
    for name in ("a_heatmap.png", "sub/b_overlay.png", "drive_overlay.mp4", "drive_heatmap.png", "colorbar.png",
                 "broken.jpg"):
        assert name in page
    assert "<video" in page


def test_verbose_prints_one_line_per_input(tmp_path, checkpoint, inputs, capsys):
    folder, _, _ = inputs
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder / "a.png"), str(folder / "sub" / "b.png"),
                 "--out", str(tmp_path / "out"), "--verbose", "--no-gallery"]) == 0
    err = capsys.readouterr().err
    assert err.count(" -> ") == 2


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
    assert summary["threshold_source"] == "checkpoint" and summary["window"] == [32, 64]
    assert not (out / "index.html").exists() and not (out / "a_score.npy").exists()
    assert (out / "a_mask.png").is_file()


def _listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_rerun_resumes_refuses_and_overwrites(tmp_path, checkpoint, inputs, capsys, monkeypatch):
    from pebal.inference import predict_files as pf

    folder, _, _ = inputs
    (folder / "broken.jpg").unlink()
    out = tmp_path / "out"
    args = ["predict", "--checkpoint", str(checkpoint), str(folder), "--out", str(out), "--threshold", "-11"]

    # an interrupted run: the second input dies half-way through writing its files
    real = pf.write_image_outputs
    calls = []

    def dying(prediction, out_dir, name, save_score=True):
        calls.append(name)
        if len(calls) == 2:
            (out_dir / f"{name}_heatmap.png").parent.mkdir(parents=True, exist_ok=True)
            (out_dir / f"{name}_heatmap.png").write_bytes(b"half")
            raise KeyboardInterrupt
        return real(prediction, out_dir, name, save_score)

    monkeypatch.setattr(pf, "write_image_outputs", dying)
    assert main(args) == 130  # the CLI contract: an interrupt is exit 130, one line
    interrupted = _strict_json(out / "predictions.json")
    assert interrupted["status"] == "interrupted" and [r["name"] for r in interrupted["outputs"]] == ["a"]
    assert "did not finish" in (out / "index.html").read_text() or "interrupted" in (out / "index.html").read_text()
    monkeypatch.setattr(pf, "write_image_outputs", real)

    # the same command resumes: "a" is kept, "sub/b" is redone, the half-written file is replaced
    a_score = (out / "a_score.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "1 finished earlier and kept" in capsys.readouterr().out
    summary = _strict_json(out / "predictions.json")
    assert summary["status"] == "complete" and summary["resumed"] == 1
    assert [r["name"] for r in summary["outputs"]] == ["a", "sub/b"]
    assert (out / "a_score.npy").stat().st_mtime_ns == a_score
    assert np.asarray(Image.open(out / "sub/b_heatmap.png")).shape == (48, 96, 3)
    listed = {f for r in summary["outputs"] for f in r["files"].values()}
    assert set(_listing(out)) == listed | {"predictions.json", "index.html", "colorbar.png", ".pebal-predict.jsonl"}

    # a rerun on fewer inputs keeps (and lists) the earlier result: nothing is lost
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder / "a.png"), "--out", str(out),
                 "--threshold", "-11"]) == 0
    assert [r["name"] for r in _strict_json(out / "predictions.json")["outputs"]] == ["a", "sub/b"]

    # other settings are refused (exit 2, one line naming the difference), nothing is touched
    before = {f: (out / f).read_bytes() for f in _listing(out)}
    capsys.readouterr()
    assert main(args[:-1] + ["-9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "threshold: -11.0 then, -9.0 now" in err and "--overwrite" in err
    assert {f: (out / f).read_bytes() for f in _listing(out)} == before

    # --overwrite replaces pebal's files only; a user's file blocks it
    (out / "notes.txt").write_text("mine")
    assert main(args[:-1] + ["-9", "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (out / "notes.txt").read_text() == "mine"
    (out / "notes.txt").unlink()
    assert main(args[:-1] + ["-9", "--overwrite"]) == 0
    assert _strict_json(out / "predictions.json")["threshold"] == -9.0


def test_foreign_folder_is_refused(tmp_path, checkpoint, inputs, capsys):
    folder, _, _ = inputs
    # writing into the input folder itself would mix outputs with the user's images
    assert main(["predict", "--checkpoint", str(checkpoint), str(folder / "a.png"), "--out", str(folder)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "broken.jpg", "sub"]


def test_non_finite_threshold_and_scores(tmp_path, checkpoint, inputs, capsys):
    from pebal.models import create_model, save_checkpoint

    folder, _, _ = inputs
    for flag in (["--threshold", "nan"], ["--threshold", "inf"], ["--score-range", "nan", "0"],
                 ["--score-range", "0", "-1"]):
        code = main(["predict", "--checkpoint", str(checkpoint), str(folder / "a.png"), "--out", str(tmp_path / "x"),
                     *flag])
        assert code == 2, flag
        assert flag[0] in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

    net = create_model("deeplabv3plus_small", num_classes=20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # finite weights (a NaN checkpoint is refused on loading) whose logits overflow
        net.final[6].weight.fill_(3e38)
    broken = tmp_path / "overflow.safetensors"
    save_checkpoint(broken, net, architecture="deeplabv3plus_small", num_classes=Y, abstention=True)
    out = tmp_path / "out"
    rc = main(["predict", "--checkpoint", str(broken), str(folder / "a.png"), str(folder / "sub" / "b.png"),
               "--out", str(out), "--threshold", "-5"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("non-finite values") == 2 and "a.png" in err and "b.png" in err
    summary = _strict_json(out / "predictions.json")
    assert summary["outputs"] == [] and len(summary["failures"]) == 2
    assert _listing(out) == [".pebal-predict.jsonl", "index.html", "predictions.json"]  # no picture of NaN


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
    predictor = Predictor(checkpoint, device="cpu")
    for i in range(3):
        image = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "original" / f"v{i}.png")
        score = predictor.predict(image).score
        label = (score > np.quantile(score, 0.85)).astype(np.uint8)  # anomalies where the model scores high
        label[:, :2] = 255
        Image.fromarray(label).save(root / "labels" / f"v{i}.png")
    ckpt = tmp_path / "cal.safetensors"
    ckpt.write_bytes(checkpoint.read_bytes())

    assert main(["calibrate", "--checkpoint", str(ckpt), "--dataset", str(root), "--rule", "fpr=5%",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    calibrated = tmp_path / "cal.calibrated.safetensors"
    meta = read_metadata(calibrated)
    assert "threshold" not in read_metadata(ckpt)  # the input is not rewritten
    assert meta["calibration"]["rule"] == "fpr=5%" and meta["calibration"]["dataset"] == "folder"
    assert meta["calibration"]["operating_point"]["fpr"] <= 0.05
    assert f"wrote {calibrated} (threshold {meta['threshold']:.6g})" in text
    assert f"flags {100 * meta['calibration']['flagged_fraction']:.2f} % of the" in text

    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(calibrated), str(root / "original" / "v0.png"), "--out", str(out)]) == 0
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["threshold"] == meta["threshold"] and summary["score_range"] == meta["heatmap_range"]
    assert summary["calibration"]["rule"] == "fpr=5%"
    assert (out / "v0_mask.png").is_file()

    for bad in ("tpr90", "fpr=5"):
        capsys.readouterr()
        assert main(["calibrate", "--checkpoint", str(ckpt), "--dataset", str(root), "--rule", bad]) == 2
        assert "--rule" in capsys.readouterr().err
    # the calibrated file exists: refused in one line, the file untouched
    before = calibrated.read_bytes()
    assert main(["calibrate", "--checkpoint", str(ckpt), "--dataset", str(root), "--rule", "fpr=5%"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err and calibrated.read_bytes() == before
