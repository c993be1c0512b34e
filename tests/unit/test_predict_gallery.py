"""The HTML gallery: relative links, the scale and threshold in the legend, escaping, videos,
failures and the banner of an unfinished run. (Its layout in a real browser:
tests/integration/test_gallery_browser.py.)"""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
from PIL import Image

from pebal.inference.gallery import GalleryEntry, prediction_entry, render_gallery, write_gallery
from pebal.inference.render import colorbar


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page):
    parser = _Collect()
    parser.feed(page)
    return parser.tags, "".join(parser.text)


def test_gallery_structure():
    entries = [
        GalleryEntry("a<b>", {"input": "a_input.jpg", "heatmap": "a_heatmap.png", "overlay": "a_overlay.png",
                              "final": "a_final.png"}, ["64x128", "anomalous pixels 1.00 %"],
                     links=[("mask (PNG)", "a_mask.png")]),
        GalleryEntry("sub/c #1", {"input": "sub/c #1_input.jpg", "heatmap": "sub/c #1_heatmap.mp4"}, [],
                     posters={"heatmap": "sub/c #1_heatmap.png"}),
    ]
    page = render_gallery(entries, "demo", (-18.5, -2.0), "inferno", threshold=-7.25,
                          notes=["threshold: -7"], failures=[("bad.png", "cannot decode")])
    tags, text = _parse(page)
    imgs = [a["src"] for t, a in tags if t == "img"]
    assert imgs == ["colorbar.png", "a_input.jpg", "a_heatmap.png", "a_overlay.png", "a_final.png",
                    "sub/c%20%231_input.jpg"]  # percent-encoded: '#' would start a fragment
    assert not any(src.startswith(("/", "http", "file:")) for src in imgs)  # opens from disk, movable
    videos = [a for t, a in tags if t == "video"]
    assert len(videos) == 1 and videos[0]["src"] == "sub/c%20%231_heatmap.mp4"
    assert videos[0]["poster"] == "sub/c%20%231_heatmap.png" and "controls" in videos[0] and "playsinline" in videos[0]
    assert sum(1 for t, a in tags if t == "section" and a.get("class") == "item") == 2
    assert "a<b>" in text and "<b>a<b>" not in page  # the name is escaped
    assert "-18.5" in text and "-2" in text and "inferno" in text and "threshold -7.25" in text
    assert "bad.png: cannot decode" in text and "threshold: -7" in text
    assert "64x128 · anomalous pixels 1.00 %" in text
    assert ("a", {"href": "a_mask.png"}) in tags
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in tags)
    assert not any(t in ("script", "table") for t, _ in tags)


def test_banner_and_no_scale():
    page = render_gallery([], "x", None, "inferno", banner="This run is running: 3 input(s) finished so far.")
    tags, text = _parse(page)
    assert "3 input(s) finished so far" in text and ("p", {"class": "banner"}) in tags
    assert not any(t == "img" for t, _ in tags)  # no legend without a scale


def test_write_gallery_writes_page_and_legend(tmp_path):
    path = write_gallery(tmp_path, [GalleryEntry("x", {"input": "x_input.jpg"})], (-20, 0), "viridis", threshold=-5)
    assert path == tmp_path / "index.html" and path.read_text().startswith("<!DOCTYPE html>")
    legend = np.asarray(Image.open(tmp_path / "colorbar.png"))
    np.testing.assert_array_equal(legend, colorbar((-20, 0), "viridis", width=512, height=18, threshold=-5))


def test_prediction_entries_of_images_and_videos():
    image = {"name": "a", "kind": "image", "width": 64, "height": 32, "score_min": -12.0, "score_mean": -8.5,
             "score_max": -3.25, "anomalous_fraction": 0.0125,
             "files": {"input": "a_input.jpg", "heatmap": "a_heatmap.png", "overlay": "a_overlay.png",
                       "final": "a_final.png", "mask": "a_mask.png", "score": "a_score.npy"}}
    entry = prediction_entry(image)
    assert entry.caption == ["64x32", "score min / mean / max -12.00 / -8.50 / -3.25", "anomalous pixels 1.25 %"]
    assert entry.links == [("mask (PNG)", "a_mask.png"), ("score map (.npy, H x W)", "a_score.npy")]
    video = {"name": "v", "kind": "video", "frames": 24, "width": 64, "height": 32, "fps": 8.0, "codec": "mp4v",
             "score_min": -12.0, "score_mean": -8.0, "score_max": -2.0, "anomalous_fraction_per_frame": [0.01, 0.03],
             "files": {"input": "v_input.jpg", "heatmap": "v_heatmap.png", "overlay": "v_overlay.png",
                       "overlay_video": "v_overlay.mp4", "heatmap_video": "v_heatmap.mp4",
                       "final_video": "v_final.mp4", "scores": "v_scores.npy"}}
    entry = prediction_entry(video)
    assert entry.pictures == {"input": "v_input.jpg", "heatmap": "v_heatmap.mp4", "overlay": "v_overlay.mp4",
                              "final": "v_final.mp4"}
    assert entry.posters == {"heatmap": "v_heatmap.png", "overlay": "v_overlay.png"}
    assert "anomalous pixels per frame: mean 2.00 %, max 3.00 %" in entry.caption
    assert any("browsers may not play" in line for line in entry.caption)
    assert ("score maps (.npy, frames x H x W)", "v_scores.npy") in entry.links
