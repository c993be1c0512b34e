"""Threshold calibration: the chosen operating points checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import precision_recall_curve, roc_curve

from pebal.inference.calibrate import calibrate, calibrate_checkpoint, parse_rule
from pebal.models.checkpoint import read_metadata
from pebal.inference.predictor import Predictor

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
    for bad in ["tpr90", "fpr=1.5", "fpr=abc", "fpr="]:
        with pytest.raises(ValueError, match="tpr95|fpr="):
            parse_rule(bad)


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


def test_heatmap_range_and_figures(validation):
    predictor, items, s, _ = validation
    result = calibrate(predictor, items, "tpr95")
    low, high = result.heatmap_range
    # images are small enough that every evaluated pixel is sampled
    assert low == pytest.approx(np.percentile(s, 1)) and high == pytest.approx(np.percentile(s, 99))
    assert set(result.metrics) >= {"auroc", "ap", "fpr95"}
    assert result.metrics["fpr95"] == pytest.approx(result.operating_point["fpr"])


def test_calibrate_checkpoint_stores_and_predict_uses(tmp_path, checkpoint, validation):
    _, items, _, _ = validation
    root = tmp_path / "val"
    (root / "original").mkdir(parents=True)
    (root / "labels").mkdir()
    for it in items:
        Image.fromarray(it["image"]).save(root / "original" / f"{it['name']}.png")
        Image.fromarray(it["label"]).save(root / "labels" / f"{it['name']}.png")
    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(checkpoint.read_bytes())

    dry = calibrate_checkpoint(ckpt, "folder", root, rule="best-f1", device="cpu", write=False)
    assert "threshold" not in read_metadata(ckpt)
    result = calibrate_checkpoint(ckpt, "folder", root, rule="best-f1", device="cpu")
    assert result.threshold == dry.threshold
    meta = read_metadata(ckpt)
    assert meta["threshold"] == result.threshold
    assert meta["heatmap_range"] == list(result.heatmap_range)
    assert meta["calibration"]["rule"] == "best-f1" and meta["calibration"]["num_images"] == 4
    assert meta["calibration"]["operating_point"]["f1"] == result.operating_point["f1"]
    assert meta["architecture"] == "deeplabv3plus_small"  # the rest of the metadata is kept

    predictor = Predictor(ckpt, device="cpu")
    assert predictor.threshold == result.threshold
    prediction = predictor.predict(items[0]["image"])
    np.testing.assert_array_equal(prediction.mask, prediction.score >= np.float32(result.threshold))


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
