"""The report's pictures and JSON: legends and the TPR line of the curves, the example grid's
colour bar, threshold and ground-truth outline, strict JSON."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
from PIL import Image

from pebal.evaluation import report

matplotlib.use("Agg")


@pytest.fixture()
def kept_figures(monkeypatch):
    """Keep the figures the report closes, to read their legends and axes."""
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    return kept


def _curves(shift):
    x = np.linspace(0, 1, 50)
    return {"roc": {"fpr": x, "tpr": x ** shift}, "pr": {"recall": x, "precision": 0.02 + 0.1 * (1 - x) / shift}}


def test_curves_have_values_in_legends_and_a_labelled_tpr_line(tmp_path, kept_figures):
    curves = {"pebal": _curves(0.3), "energy": _curves(0.5), "max_logit": _curves(0.5)}
    metrics = {"pebal": {"auroc": 0.881, "ap": 0.165, "fpr95": 0.556}, "energy": {"auroc": 0.8588, "ap": 0.1075,
                                                                             "fpr95": 0.6238}}
    report.plot_curves(curves, "road-obstacles", tmp_path / "c.png", metrics=metrics)
    assert Image.open(tmp_path / "c.png").size[0] > 1000
    roc, pr = kept_figures[0].axes
    roc_labels = [t.get_text() for t in roc.get_legend().get_texts()]
    assert roc_labels == ["pebal: AUROC 88.1, FPR95 55.6", "energy: AUROC 85.9, FPR95 62.4", "max_logit",
                          "TPR = 0.95 (FPR95 is the FPR here)"]
    assert [t.get_text() for t in pr.get_legend().get_texts()][:2] == ["pebal: AP 16.5", "energy: AP 10.8"]
    assert "random score (2.0 % anomalous)" in [t.get_text() for t in pr.get_legend().get_texts()]
    # curves that lie on top of each other are drawn differently
    energy, max_logit = roc.get_lines()[1], roc.get_lines()[2]
    assert energy.get_linestyle() != max_logit.get_linestyle() or energy.get_color() != max_logit.get_color()
    # the precision axis ends above the highest curve (recall >= 0.05), not at 1
    top = max(np.max(c["pr"]["precision"][c["pr"]["recall"] >= 0.05]) for c in curves.values())
    assert pr.get_ylim()[1] == pytest.approx(max(0.25, 1.15 * top))


def test_example_grid_states_the_threshold_and_has_a_colour_bar(tmp_path, kept_figures):
    rng = np.random.default_rng(0)
    label = np.zeros((32, 64), np.uint8)
    label[10:20, 20:40] = 1
    score = rng.normal(-8, 1, (32, 64)).astype(np.float32)
    score[label == 1] += 4
    rows = [{"image": rng.integers(0, 256, (32, 64, 3), dtype=np.uint8), "segmentation": np.zeros((32, 64), np.uint8),
             "score": score, "mask": score >= -5.0, "label": label, "threshold": -5.0, "title": "set 0"}]
    report.example_grid(rows, tmp_path / "e.png", (-11.0, -2.0), threshold_note="budget=1% on clean val images")
    fig = kept_figures[0]
    panels, bar = fig.axes[:4], fig.axes[4]
    assert panels[3].get_title() == "final prediction: score ≥ -5.00 in cyan"
    assert "green" in panels[0].get_title()
    assert bar.get_xlim() == pytest.approx((-11.0, -2.0))  # the colour bar spans the heat-map scale
    assert any(line.get_xdata()[0] == -5.0 for line in bar.get_lines())  # the threshold marked on it
    assert "budget=1% on clean val images" in " ".join(t.get_text() for t in fig.texts)
    flagged, caught = np.mean(score >= -5.0), np.mean((score >= -5.0)[label == 1])
    assert panels[0].get_ylabel() == f"set 0\nflagged {100 * flagged:.1f} %, caught {100 * caught:.0f} %"


def test_ground_truth_outline_is_green_in_a_black_edge():
    panel = np.full((64, 64, 3), 200, np.uint8)
    label = np.zeros((64, 64), np.uint8)
    label[20:40, 20:40] = 1
    out = report._outline(panel, label)
    assert tuple(out[20, 30]) == report.GROUND_TRUTH_COLOR and tuple(out[21, 30]) == report.GROUND_TRUTH_COLOR
    assert tuple(out[19, 30]) == (0, 0, 0)  # the edge just outside the region
    assert tuple(out[30, 30]) == (200, 200, 200)  # the inside stays visible
    np.testing.assert_array_equal(report._outline(panel, np.zeros_like(label)), panel)


def test_write_json_is_strict(tmp_path):
    report.write_json(tmp_path / "r.json", {"ap": float("nan"), "x": [np.float32(0.5), float("inf")], "n": np.int64(3)})
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text) == {"ap": None, "x": [0.5, None], "n": 3}
    assert "NaN" not in text and "Infinity" not in text
