"""The gallery of ``pebal predict`` in a real browser: headless Chromium at a laptop and a phone
width. The page is written by the real command (two images, one of them with a long name, and a
short H.264 clip) and shown, unchanged, in one iframe per width inside a harness page whose
script measures the layout; Chromium's ``--dump-dom`` prints the result. Outside CI the test is skipped when Chromium is not
installed; in CI (``CI=true``) a missing Chromium fails it (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from pebal.cli import main

from conftest import scaled_pebal_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow

#: Widths checked: a common laptop and a phone (CSS pixels).
WIDTHS = (1280, 390)

#: A harness page: the gallery in one iframe per width (an iframe's viewport is exactly its width,
#: which a headless window cannot be below 500 px), measured from outside once everything loaded.
_HARNESS = """<!DOCTYPE html><html><body style="margin:0">
%(frames)s
<script>
function box(e) { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                  width: r.width, height: r.height}; }
function measure(frame) {
  const doc = frame.contentDocument, de = doc.documentElement, win = frame.contentWindow;
  return {viewport: win.innerWidth, clientWidth: de.clientWidth, scrollWidth: de.scrollWidth,
    sections: Array.from(doc.querySelectorAll('section.item')).map(s => ({
      name: s.querySelector('h2').textContent, title: box(s.querySelector('h2')),
      meta: Object.assign(box(s.querySelector('.meta')),
                          {lineHeight: parseFloat(win.getComputedStyle(s.querySelector('.meta')).lineHeight)}),
      media: Array.from(s.querySelectorAll('figure img, figure video')).map(e => Object.assign(box(e),
        {tag: e.tagName, natural: e.naturalWidth || 0, ready: e.readyState === undefined ? null : e.readyState,
         videoWidth: e.videoWidth || 0, error: e.error ? e.error.code : null}))}))};
}
window.addEventListener('load', () => {
  const frames = Array.from(document.querySelectorAll('iframe'));
  const videos = frames.flatMap(f => Array.from(f.contentDocument.querySelectorAll('video')));
  Promise.all(videos.map(v => v.readyState >= 1 ? 1 : new Promise(done => {
    v.addEventListener('loadedmetadata', done); v.addEventListener('error', done); setTimeout(done, 5000); })))
    .then(() => {
      const out = {};
      frames.forEach(f => { out[f.dataset.width] = measure(f); });
      const pre = document.createElement('pre'); pre.id = 'pebal-measure'; pre.textContent = JSON.stringify(out);
      document.body.appendChild(pre);
    });
});
</script></body></html>"""


def chromium() -> str:
    """The Chromium executable, or skip (outside CI) / fail (in CI) when there is none."""
    found = os.environ.get("PEBAL_CHROMIUM") or next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("headless Chromium is required in CI for the gallery layout test; .ci/run installs it "
                        "(apt-get install -y chromium chromium-driver)")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs this test")
    return found


def measure(index, widths, profile) -> dict:
    """Load the gallery ``index`` at each width in headless Chromium; ``{width: measurements}``."""
    frames = "\n".join(f'<iframe data-width="{w}" src="{index.name}" style="display:block;border:0;width:{w}px;'
                       f'height:8000px"></iframe>' for w in widths)
    harness = index.parent / "_measure.html"
    harness.write_text(_HARNESS % {"frames": frames})
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--allow-file-access-from-files", "--hide-scrollbars", "--window-size=1400,900",
               "--virtual-time-budget=15000", "--dump-dom", harness.as_uri()]
    try:
        dom = subprocess.run(command, capture_output=True, text=True, timeout=180).stdout
    finally:
        harness.unlink()
    found = re.search(r'<pre id="pebal-measure">(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script did not run; Chromium printed: {dom[:500]!r}"
    return {int(k): v for k, v in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")).items()}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """A real ``pebal predict`` folder: a 512x1024 image, a small one with a long name, a 6-frame clip."""
    root = tmp_path_factory.mktemp("gallery")
    checkpoint = scaled_pebal_checkpoint(root, seed=5)
    rng = np.random.default_rng(0)
    inputs = root / "in"
    inputs.mkdir()
    y, x = np.mgrid[0:512, 0:1024]
    big = np.stack([x // 4 % 256, y // 2 % 256, (x + y) // 6 % 256], -1).astype(np.uint8)
    Image.fromarray(big).save(inputs / "street.png")
    Image.fromarray(rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(
        inputs / "frame_2024-05-17T08-31-12_front_left_camera_exposure_auto_0001.png")
    writer = cv2.VideoWriter(str(inputs / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 6.0, (96, 48))
    for i in range(6):
        writer.write(np.full((48, 96, 3), 30 * i, np.uint8))
    writer.release()
    out = root / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(inputs), "--out", str(out), "--threshold", "-9"]) == 0
    return measure(out / "index.html", WIDTHS, root / "profile")


@pytest.mark.parametrize("width", WIDTHS)
def test_gallery_fits_the_window_and_reads(gallery, width):
    from pebal.inference.video_encode import h264_available

    m = gallery[width]
    view = m["clientWidth"]
    assert m["viewport"] == width
    assert m["scrollWidth"] <= view, f"horizontal overflow at {width} px: page {m['scrollWidth']} > window {view}"
    assert [s["name"] for s in m["sections"]] == [
        "clip", "frame_2024-05-17T08-31-12_front_left_camera_exposure_auto_0001", "street"]
    columns = 4 if width >= 1280 else 1
    for section in m["sections"]:
        # names and statistics run across the page, not down a narrow column
        assert section["title"]["width"] >= 0.9 * (view - 32), section["name"]
        meta = section["meta"]
        assert meta["width"] >= 0.9 * (view - 32) and meta["height"] <= 4 * meta["lineHeight"], section
        media = section["media"]
        assert len(media) == 4, section["name"]
        for item in media:
            assert 0 <= item["left"] and item["right"] <= view + 0.5, (width, section["name"], item)
            assert item["width"] >= min(250, view - 40), (width, section["name"], item)  # readable size
            if item["tag"] == "IMG":
                assert item["natural"] > 0, item  # the relative path resolved
        assert len({round(item["top"]) for item in media}) == (1 if columns == 4 else 4), (width, media)
        if section["name"] == "clip" and h264_available():
            for video in (v for v in media if v["tag"] == "VIDEO"):
                assert video["error"] is None and video["ready"] >= 1 and video["videoWidth"] == 96, video
