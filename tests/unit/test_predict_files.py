"""Input discovery and the files written per prediction."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pebal.inference.predictor import Prediction
from pebal.inference.predict_files import expand_inputs, write_image_outputs
from pebal.inference.render import heatmap


def _touch_image(path, h=8, w=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def test_expand_inputs_folders_globs_files_and_failures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _touch_image(tmp_path / "data" / "b.png")
    _touch_image(tmp_path / "data" / "deep" / "c.jpg")
    (tmp_path / "data" / "notes.txt").write_text("x")
    (tmp_path / "data" / "clip.mp4").write_bytes(b"")
    _touch_image(tmp_path / "x" / "b.png")
    (tmp_path / "empty").mkdir()

    items, failures = expand_inputs(["data", "x/*.png", "data/b.png", "missing.png", "none*.jpg", "empty"])
    assert [(i.name, i.kind) for i in items] == [
        ("b", "image"), ("clip", "video"), ("deep/c", "image"),
        ("b-2", "image"),  # x/b.png: same stem as data/b.png, renamed; data/b.png again: skipped
    ]
    assert [f[0] for f in failures] == ["missing.png", "none*.jpg", "empty"]
    assert "no such file" in failures[0][1] and "matches" in failures[1][1] and "no image" in failures[2][1]


def test_write_image_outputs(tmp_path):
    score = np.array([[-5.0, -15.0, -1.0], [-20.0, -3.0, -9.0]], dtype=np.float32)
    seg = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    image = np.full((2, 3, 3), 77, np.uint8)
    p = Prediction(score=score, segmentation=seg, threshold=-4.0, image=image)
    files = write_image_outputs(p, tmp_path, "sub/im")
    assert set(files) == {"heatmap", "segmentation", "final", "overlay", "input", "mask", "score"}
    np.testing.assert_array_equal(np.load(tmp_path / files["score"]), score)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / files["mask"])),
                                  [[0, 0, 255], [0, 255, 0]])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / files["heatmap"])), heatmap(score))
    final = np.asarray(Image.open(tmp_path / files["final"]))
    assert tuple(final[0, 2]) == (0, 255, 255) and tuple(final[0, 0]) != (0, 255, 255)
    assert (tmp_path / "sub" / "im_input.jpg").is_file()

    no_threshold = Prediction(score=score, segmentation=seg, image=image)
    files = write_image_outputs(no_threshold, tmp_path, "plain", save_score=False)
    assert "mask" not in files and "score" not in files
