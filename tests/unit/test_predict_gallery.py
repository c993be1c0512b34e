"""The HTML gallery: relative links, the fixed scale in the legend, escaping, failures."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
from PIL import Image

from pebal.inference.gallery import GalleryEntry, render_gallery, write_gallery
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
                              "final": "a_final.png"}, ["64x128"]),
        GalleryEntry("sub/c", {"input": "sub/c_input.jpg", "heatmap": "sub/c_heatmap.png"}, []),
    ]
    page = render_gallery(entries, "demo", "colorbar.png", (-18.5, -2.0), "inferno",
                          notes=["threshold: -7"], failures=[("bad.png", "cannot decode")])
    tags, text = _parse(page)
    imgs = [a["src"] for t, a in tags if t == "img"]
    assert imgs == ["colorbar.png", "a_input.jpg", "a_heatmap.png", "a_overlay.png", "a_final.png",
                    "sub/c_input.jpg", "sub/c_heatmap.png"]
    assert not any(src.startswith(("/", "http", "file:")) for src in imgs)  # opens from disk, movable
    assert sum(1 for t, a in tags if t == "tr" and a.get("class") == "item") == 2
    assert "a<b>" in text and "<b>a<b>" not in page  # the name is escaped
    assert "-18.5" in text and "-2" in text and "inferno" in text
    assert "bad.png: cannot decode" in text and "threshold: -7" in text
    assert not any(t == "script" for t, _ in tags)


def test_write_gallery_writes_page_and_legend(tmp_path):
    path = write_gallery(tmp_path, [GalleryEntry("x", {"input": "x_input.jpg"})], (-20, 0), "viridis")
    assert path == tmp_path / "index.html" and path.read_text().startswith("<!DOCTYPE html>")
    legend = np.asarray(Image.open(tmp_path / "colorbar.png"))
    np.testing.assert_array_equal(legend, colorbar((-20, 0), "viridis"))
