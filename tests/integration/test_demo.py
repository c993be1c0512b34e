"""``pebal demo`` and ``pebal evaluate`` end to end on a tiny benchmark and an untrained model."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pebal.cli import main
from pebal.data.synthetic.cache import SynthCounts

TINY = ["data.size=[64,128]", "data.max_images=16", "optim.max_steps=3", "optim.batch_size=4", "tensorboard=false",
        "threads=1"]


@pytest.mark.slow
def test_demo_writes_the_report_folder(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch, capsys):
    from pebal.evaluation.demo import run_demo

    out = tmp_path / "demo"
    results = run_demo(out, overrides=[f"data.root={tiny_benchmark}", f"checkpoint={untrained_checkpoint}", *TINY],
                       bn_control_steps=2, progress=False,
                       benchmark_counts=SynthCounts(train=16, val=4, outlier_exposure=12, test=4))
    saved = json.loads((out / "results.json").read_text())
    for name in ("road-obstacles", "anomalies-shifted"):
        for method in ("pebal", "msp", "max_logit", "entropy", "energy", "bn_control"):
            assert set(saved[name][method]) >= {"auroc", "ap", "fpr95"}
            assert 0.0 <= saved[name][method]["ap"] <= 1.0
        # max logit and energy differ only by the logsumexp's soft maximum: close, not equal
        assert saved[name]["max_logit"]["auroc"] == pytest.approx(saved[name]["energy"]["auroc"], abs=0.05)
    assert set(saved["miou"]) == {"pretrained", "finetuned", "bn_control"}
    assert saved["config"]["optim"]["max_steps"] == 3 and saved["timings"]["total"] > 0
    assert results["checks"]["road-obstacles"].keys() >= {"ap_beats_all_baselines", "fpr95_beats_all_baselines"}
    for f in ("results.md", "examples.png", "curves_road-obstacles.png", "finetune/config.yaml",
              "finetune/model.safetensors", "calibrated.safetensors"):
        assert (out / f).is_file(), f

    # the demo ends with a usable model: calibrated on the clean inlier val split, not on a test set
    from pebal.models.checkpoint import read_metadata

    model = saved["calibrated_model"]
    assert model["path"] == str((out / "calibrated.safetensors").resolve())
    calibration = read_metadata(out / "calibrated.safetensors")["calibration"]
    assert calibration["dataset"] == "synthetic-inlier:val" and calibration["data"] == "clean images"
    assert calibration["rule"] == "budget=1%" and calibration["num_images"] == 4
    assert 0 < model["flagged_fraction"] <= 0.01 and model["flagged_fraction"] == calibration["flagged_fraction"]

    # the first hour: from another folder, predict clean val images, a test folder and a short clip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    clip = elsewhere / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 4.0, (128, 64))
    from pebal.data.image_io import read_image

    for path in sorted((tiny_benchmark / "test" / "road-obstacles" / "original").glob("*.png"))[:3]:
        writer.write(cv2.cvtColor(read_image(path), cv2.COLOR_RGB2BGR))
    writer.release()
    capsys.readouterr()
    assert main(["predict", "--checkpoint", model["path"], str(tiny_benchmark / "inlier" / "val" / "images"),
                 "--out", "clean"]) == 0
    clean = json.loads((elsewhere / "clean" / "predictions.json").read_text())
    flagged = sum(r["anomalous_fraction"] * r["width"] * r["height"] for r in clean["outputs"])
    pixels = sum(r["width"] * r["height"] for r in clean["outputs"])
    # the same images the threshold was calibrated on: the mask flags exactly the calibrated share
    assert flagged / pixels == pytest.approx(calibration["flagged_fraction"], abs=1e-9)
    assert main(["predict", "--checkpoint", model["path"], str(tiny_benchmark / "test" / "road-obstacles"
                                                                / "original"), "clip.mp4", "--out", "test"]) == 0
    test = json.loads((elsewhere / "test" / "predictions.json").read_text())
    assert test["outputs"][-1]["kind"] == "video" and test["outputs"][-1]["frames"] == 3
    assert np.load(elsewhere / "test" / "clip_scores.npy").shape == (3, 64, 128)
    assert "threshold" in capsys.readouterr().out

    # the same fine-tuned checkpoint through `pebal evaluate`
    code = main(["evaluate", "--checkpoint", str(out / "finetune" / "model.safetensors"), "--root", str(tiny_benchmark),
                 "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 0
    again = json.loads((tmp_path / "eval" / "results.json").read_text())
    for name in ("road-obstacles", "anomalies-shifted"):
        for method in ("pebal", "msp"):
            assert again[name][method]["ap"] == saved[name][method]["ap"]
    assert again["miou"]["finetuned"]["miou"] == saved["miou"]["finetuned"]["miou"]
    # PEBAL vs every baseline, paired over the same test images: B − A = pebal − baseline
    assert [(r["a"], r["b"]) for r in again["paired"]] == [(m, "pebal") for m in ("msp", "max_logit", "entropy", "energy")]
    for record in again["paired"]:
        entry = record["sets"]["road-obstacles"]["ap"]
        assert entry["difference"] == pytest.approx(saved["road-obstacles"]["pebal"]["ap"]
                                                    - saved["road-obstacles"][record["a"]]["ap"], abs=1e-12)
        assert 0.0 <= entry["p_value"] <= 1.0
    assert "PEBAL − each baseline, paired" in (tmp_path / "eval" / "results.md").read_text()
