"""Threshold calibration: operating points against scikit-learn, the false-alarm budget against
numpy's order statistics, the data a folder holds, and where the calibrated checkpoint goes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import precision_recall_curve, roc_curve

from pebal.inference.calibrate import (DEFAULT_RULE, budget_threshold, calibrate, calibrate_clean, heatmap_range,
                                       parse_rule)
from pebal.inference.calibrate_files import (CalibrationInputError, calibrate_checkpoint, list_clean_images,
                                             open_calibration_data)
from pebal.inference.predictor import Predictor
from pebal.models.checkpoint import read_metadata

from conftest import scaled_pebal_checkpoint  # noqa: E402

Y = 19


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return scaled_pebal_checkpoint(tmp_path_factory.mktemp("ckpt"), seed=4)


@pytest.fixture(scope="module")
def validation(checkpoint):
    """Four images, labels that follow the score (top decile anomalous) with 15 % flipped and a void band."""
    predictor = Predictor(checkpoint, device="cpu")
    rng = np.random.default_rng(7)
    items, scores = [], []
    for i in range(4):
        image = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
        score = predictor.predict(image).score
        label = (score > np.quantile(score, 0.9)).astype(np.uint8)
        flip = rng.random(label.shape) < 0.15
        label[flip] = 1 - label[flip]
        label[:, :3] = 255
        items.append({"image": image, "label": label, "name": f"val{i}"})
        scores.append(score)
    pooled_scores = np.concatenate([s[it["label"] != 255] for s, it in zip(scores, items)])
    pooled_labels = np.concatenate([it["label"][it["label"] != 255] for it in items])
    return predictor, items, pooled_scores, pooled_labels


def test_parse_rule():
    assert parse_rule("tpr95") == ("tpr", 0.95)
    assert parse_rule("best-f1") == ("best-f1", None)
    assert parse_rule("fpr=0.05") == ("fpr", 0.05)
    assert parse_rule("fpr=5%") == ("fpr", 0.05) and parse_rule("fpr=5 %") == ("fpr", 0.05)
    assert parse_rule("budget=1%") == ("budget", 0.01) and parse_rule("budget=0.005") == ("budget", 0.005)
    assert parse_rule(DEFAULT_RULE) == ("budget", 0.01)
    for bad in ["tpr90", "fpr=1.5", "fpr=abc", "fpr=", "fpr=100%", "budget=0", "budget=-1%", "budget=nan"]:
        with pytest.raises(ValueError, match="tpr95|fpr=|budget="):
            parse_rule(bad)


def test_budget_threshold_is_the_exact_order_statistic():
    rng = np.random.default_rng(0)
    s = rng.normal(size=10_000).astype(np.float32)
    for budget in (0.001, 0.01, 0.05, 0.5):
        t, flagged = budget_threshold(s, budget)
        k = int(np.floor(budget * s.size))
        assert flagged == np.count_nonzero(s >= np.float32(t)) == k  # no ties: exactly the budget
        assert t == np.sort(s)[::-1][k - 1]  # the k-th largest score
    # ties at the cut: the next higher distinct score, so the budget is never exceeded
    tied = np.array([5, 4, 3, 3, 3, 2, 1, 0, 0, 0], np.float32)
    assert budget_threshold(tied, 0.3) == (4.0, 2)  # k = 3 would cut through the three 3s
    assert budget_threshold(tied, 0.5) == (3.0, 5)
    with pytest.raises(ValueError, match="less than one pixel"):
        budget_threshold(tied, 0.05)
    with pytest.raises(ValueError, match="same score"):
        budget_threshold(np.zeros(10, np.float32), 0.2)


def test_heatmap_range_puts_the_threshold_at_most_three_quarters_up():
    s = np.linspace(-12.0, -2.0, 100_001)
    low, high = heatmap_range(s, threshold=-4.0)
    assert low == pytest.approx(np.percentile(s, 1)) and high == pytest.approx(-4.0 + (-4.0 - low) / 3)
    assert high > np.percentile(s, 99.9) and (-4.0 - low) / (high - low) == pytest.approx(0.75)
    # a threshold low in the scores (e.g. tpr95): the range still covers 99.9 % of them
    low, high = heatmap_range(s, threshold=-10.0)
    assert high == pytest.approx(np.percentile(s, 99.9))


def test_tpr95_matches_sklearn(validation):
    predictor, items, s, y = validation
    result = calibrate(predictor, items, "tpr95")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = int(np.argmax(tpr >= 0.95))  # thresholds descend: the first reaching 95 % is the highest
    assert result.threshold == pytest.approx(float(thr[j]), abs=0)
    assert result.operating_point["tpr"] == pytest.approx(tpr[j])
    assert result.operating_point["fpr"] == pytest.approx(fpr[j])
    assert np.mean(s[y == 1] >= result.threshold) >= 0.95
    assert result.num_images == 4


def test_best_f1_matches_sklearn(validation):
    predictor, items, s, y = validation
    result = calibrate(predictor, items, "best-f1")
    precision, recall, thr = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]
    assert result.operating_point["f1"] == pytest.approx(f1.max(), abs=1e-12)
    pred = s >= result.threshold
    tp, fp, p = np.sum(pred & (y == 1)), np.sum(pred & (y == 0)), np.sum(y == 1)
    assert 2 * tp / (tp + fp + p) == pytest.approx(f1.max(), abs=1e-12)


def test_fpr_rule_matches_sklearn(validation):
    predictor, items, s, y = validation
    result = calibrate(predictor, items, "fpr=0.05")
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    best_tpr = tpr[fpr <= 0.05].max()
    achieved_fpr = np.mean(s[y == 0] >= result.threshold)
    achieved_tpr = np.mean(s[y == 1] >= result.threshold)
    assert achieved_fpr <= 0.05 and achieved_tpr == pytest.approx(best_tpr)
    assert result.threshold in set(s[y == 1].tolist())  # thresholds are anomaly scores


def test_fpr_percent_and_budget_on_labelled_data_equal_fpr(validation):
    predictor, items, s, y = validation
    base = calibrate(predictor, items, "fpr=0.05")
    assert calibrate(predictor, items, "fpr=5%").threshold == base.threshold
    budget = calibrate(predictor, items, "budget=5%")
    assert budget.threshold == base.threshold and budget.data == "labelled"
    # what the threshold flags on the data it saw: every evaluated pixel, anomalous or not
    assert budget.flagged_fraction == pytest.approx(np.mean(s >= budget.threshold))
    assert budget.pixels == s.size


def test_heatmap_range_and_figures(validation):
    predictor, items, s, _ = validation
    result = calibrate(predictor, items, "tpr95")
    # images are small enough that every evaluated pixel is sampled
    assert result.heatmap_range == pytest.approx(heatmap_range(s, result.threshold))
    assert set(result.metrics) >= {"auroc", "ap", "fpr95"}
    assert result.metrics["fpr95"] == pytest.approx(result.operating_point["fpr"])


def test_clean_budget_matches_numpy(checkpoint):
    predictor = Predictor(checkpoint, device="cpu")
    rng = np.random.default_rng(11)
    images = [(f"clean{i}", rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)) for i in range(3)]
    scores = [predictor.predict(im).score for _, im in images]
    pooled = np.concatenate([sc.ravel() for sc in scores])
    result = calibrate_clean(predictor, images, "budget=2%")
    k = int(np.floor(0.02 * pooled.size))
    assert result.threshold == float(np.sort(pooled)[::-1][k - 1])
    assert result.flagged_fraction == np.mean(pooled >= np.float32(result.threshold))
    assert 0.0195 < result.flagged_fraction <= 0.02  # random scores: few ties, nearly the whole budget
    per_image = [np.mean(sc >= np.float32(result.threshold)) for sc in scores]
    assert result.per_image_flagged == pytest.approx({"median": np.median(per_image), "p95": np.percentile(per_image, 95),
                                                      "max": max(per_image)})
    assert result.num_images == 3 and result.pixels == pooled.size and result.data == "clean images"
    calibration = result.metadata()["calibration"]
    assert calibration["flagged_fraction"] == result.flagged_fraction and "operating_point" not in calibration
    with pytest.raises(ValueError, match="needs anomaly labels"):
        calibrate_clean(predictor, images, "tpr95")


def _clean_folder(root, images):
    """The embedded benchmark's inlier layout: images/ plus segmentation labels/ (train ids)."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for name, image in images:
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray(np.full(image.shape[:2], 13, np.uint8)).save(root / "labels" / f"{name}.png")


def test_folders_are_read_as_clean_or_labelled(tmp_path, validation):
    _, items, _, _ = validation
    clean = tmp_path / "inlier" / "val"
    _clean_folder(clean, [(it["name"], it["image"]) for it in items])
    data = open_calibration_data(str(clean))
    assert data.kind == "clean" and [p.name for p in data.items] == [f"val{i}.png" for i in range(4)]
    loose = tmp_path / "frames"
    (loose / "day1").mkdir(parents=True)
    Image.fromarray(items[0]["image"]).save(loose / "day1" / "a.jpg")
    (loose / "notes.txt").write_text("x")
    assert [p.relative_to(loose).as_posix() for p in list_clean_images(loose)] == ["day1/a.jpg"]
    labelled = tmp_path / "anomalies"
    (labelled / "original").mkdir(parents=True)
    (labelled / "labels").mkdir()
    Image.fromarray(items[0]["image"]).save(labelled / "original" / "x.png")
    Image.fromarray(items[0]["label"]).save(labelled / "labels" / "x.png")
    assert open_calibration_data(str(labelled)).kind == "labelled"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationInputError, match="no image files"):
        list_clean_images(tmp_path / "empty")
    with pytest.raises(CalibrationInputError, match="--root"):
        open_calibration_data("synthetic-inlier")


def test_calibrate_checkpoint_writes_a_new_file_and_predict_uses_it(tmp_path, checkpoint, validation):
    _, items, _, _ = validation
    root = tmp_path / "val"
    (root / "original").mkdir(parents=True)
    (root / "labels").mkdir()
    for it in items:
        Image.fromarray(it["image"]).save(root / "original" / f"{it['name']}.png")
        Image.fromarray(it["label"]).save(root / "labels" / f"{it['name']}.png")
    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(checkpoint.read_bytes())
    original = ckpt.read_bytes()

    dry, written = calibrate_checkpoint(ckpt, str(root), rule="best-f1", device="cpu", write=False, progress=False)
    assert written is None and "threshold" not in read_metadata(ckpt)
    result, written = calibrate_checkpoint(ckpt, str(root), rule="best-f1", device="cpu", progress=False)
    assert written == tmp_path / "m.calibrated.safetensors" and ckpt.read_bytes() == original  # input untouched
    assert result.threshold == dry.threshold
    meta = read_metadata(written)
    assert meta["threshold"] == result.threshold
    assert meta["heatmap_range"] == list(result.heatmap_range)
    assert meta["calibration"]["rule"] == "best-f1" and meta["calibration"]["num_images"] == 4
    assert meta["calibration"]["operating_point"]["f1"] == result.operating_point["f1"]
    assert meta["calibration"]["flagged_fraction"] == result.flagged_fraction
    assert meta["architecture"] == "deeplabv3plus_small"  # the rest of the metadata is kept

    with pytest.raises(CalibrationInputError, match="--overwrite"):
        calibrate_checkpoint(ckpt, str(root), rule="best-f1", device="cpu", progress=False)
    with pytest.raises(CalibrationInputError, match="--in-place"):
        calibrate_checkpoint(ckpt, str(root), out=ckpt, device="cpu", progress=False)
    _, same = calibrate_checkpoint(ckpt, str(root), rule="fpr=20%", in_place=True, device="cpu", progress=False)
    assert same == ckpt and read_metadata(ckpt)["calibration"]["rule"] == "fpr=20%"

    predictor = Predictor(written, device="cpu")
    assert predictor.threshold == result.threshold and predictor.threshold_source == "checkpoint"
    prediction = predictor.predict(items[0]["image"])
    np.testing.assert_array_equal(prediction.mask, prediction.score >= np.float32(result.threshold))


def test_calibrate_checkpoint_on_clean_images(tmp_path, checkpoint, validation):
    _, items, _, _ = validation
    clean = tmp_path / "inlier" / "val"
    _clean_folder(clean, [(it["name"], it["image"]) for it in items])
    result, written = calibrate_checkpoint(checkpoint, str(clean), out=tmp_path / "c.safetensors", device="cpu",
                                           progress=False)
    assert result.rule == DEFAULT_RULE and result.data == "clean images" and result.num_images == 4
    assert 0.009 < result.flagged_fraction <= 0.01
    meta = read_metadata(written)
    assert meta["calibration"]["data"] == "clean images" and meta["calibration"]["pixels"] == 4 * 40 * 64
    with pytest.raises(CalibrationInputError, match="needs anomaly labels"):
        calibrate_checkpoint(checkpoint, str(clean), rule="tpr95", out=tmp_path / "d.safetensors", device="cpu",
                             progress=False)


def test_unmet_and_empty(validation):
    predictor, items, _, _ = validation
    with pytest.raises(ValueError, match="no images"):
        calibrate(predictor, [], "tpr95")
    one_class = [{"image": items[0]["image"], "label": np.zeros((40, 64), np.uint8), "name": "x"}]
    with pytest.raises(ValueError):
        calibrate(predictor, one_class, "tpr95")
    # labels opposite to the score: the top-scoring pixels are inliers, so no threshold meets a tiny FPR
    inverted = []
    for it in items:
        score = predictor.predict(it["image"]).score
        inverted.append({**it, "label": (score < np.quantile(score, 0.5)).astype(np.uint8)})
    with pytest.raises(ValueError, match=r"cannot be met .* the FPR is 0\.\d+"):
        calibrate(predictor, inverted, "fpr=0.001")
