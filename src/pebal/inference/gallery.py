"""A static HTML gallery of predictions: one section per input, its pictures in a responsive grid.

``index.html`` is written into the prediction folder and refers to the pictures there by
relative (percent-encoded) paths, so it opens from disk (``file://``) with no server and
survives moving the whole folder. No scripts, no external resources.

Layout: a header with the heat-map legend (the colour bar, its low and high scores and the
threshold's cyan tick), the run's notes and any failures; then one section per input with
its name and statistics on a full-width line, and its pictures (input, heat map, overlay,
final prediction) in a CSS grid of columns at least :data:`MIN_COLUMN_PX` wide: four side by
side on a laptop, two on a tablet, one on a phone, never wider than the window. Videos are
embedded (``<video>``, first frame as poster) and linked.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: Pictures in display order: (key of :attr:`GalleryEntry.pictures`, caption).
COLUMNS = (
    ("input", "input"),
    ("heatmap", "anomaly score (heat map)"),
    ("overlay", "overlay (anomalies outlined cyan)"),
    ("final", "final prediction (anomalies cyan)"),
)

#: Narrowest picture column in CSS pixels (a phone shows one column of its full width).
MIN_COLUMN_PX = 260

_CSS = f"""
*, *::before, *::after {{ box-sizing: border-box; }}
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem;
       max-width: 1800px; background: #fafafa; color: #222; line-height: 1.4; }}
h1 {{ font-size: 1.5rem; margin: 0 0 .5rem; }}
h2 {{ font-size: 1.1rem; margin: 0; overflow-wrap: anywhere; }}
p {{ margin: .3rem 0; overflow-wrap: anywhere; }}
.legend {{ max-width: 36rem; }}
.legend img {{ display: block; width: 100%; height: 18px; }}
.scale {{ display: flex; justify-content: space-between; font-weight: bold; }}
.banner {{ background: #fff3cd; border: 1px solid #e0c36a; padding: .5rem .75rem; }}
.failed {{ color: #a00; overflow-wrap: anywhere; }}
section.item {{ border-top: 1px solid #ccc; padding: .75rem 0; }}
.meta {{ color: #555; font-size: .9rem; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, {MIN_COLUMN_PX}px), 1fr));
        gap: .75rem; margin-top: .5rem; }}
figure {{ margin: 0; min-width: 0; }}
figure img, figure video {{ display: block; width: 100%; height: auto; background: #ddd; }}
figcaption {{ font-size: .85rem; color: #444; }}
.links {{ font-size: .85rem; }}
"""


@dataclass
class GalleryEntry:
    """One input: a name, pictures by column key (paths relative to the gallery folder), lines of
    statistics, poster images of videos by column key, and extra ``(label, path)`` links.

    A picture path ending in ``.mp4`` / ``.webm`` is embedded as a ``<video>``, anything else as
    an ``<img>``.
    """

    name: str
    pictures: dict[str, str] = field(default_factory=dict)
    caption: list[str] = field(default_factory=list)
    posters: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)


def _url(path: str) -> str:
    return html.escape(quote(Path(path).as_posix(), safe="/"), quote=True)


def _figure(path: str, caption: str, poster: str | None, alt: str) -> str:
    src, esc = _url(path), html.escape
    if path.lower().endswith((".mp4", ".webm")):
        poster_attr = f' poster="{_url(poster)}"' if poster else ""
        media = (f'<video src="{src}"{poster_attr} controls muted loop playsinline preload="metadata" '
                 f'title="{esc(alt, quote=True)}"></video>')
        caption += f' (<a href="{src}">video</a>)'
    else:
        media = f'<a href="{src}"><img src="{src}" alt="{esc(alt, quote=True)}" loading="lazy"></a>'
    return f"<figure>{media}<figcaption>{caption}</figcaption></figure>"


def render_gallery(
    entries: Sequence[GalleryEntry],
    title: str,
    score_range: tuple[float, float] | None,
    colormap: str,
    threshold: float | None = None,
    notes: Sequence[str] = (),
    failures: Sequence[tuple[str, str]] = (),
    banner: str | None = None,
    legend_image: str | None = "colorbar.png",
) -> str:
    """The gallery page as an HTML string (see :func:`write_gallery`)."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if banner:
        parts.append(f'<p class="banner">{esc(banner)}</p>')
    if score_range is not None:
        low, high = score_range
        tick = "" if threshold is None else f"; the cyan tick marks the threshold {threshold:.4g}"
        parts += [
            '<div class="legend">',
            f'<img src="{_url(legend_image)}" alt="colour scale from {low:.4g} to {high:.4g}">' if legend_image else "",
            f'<div class="scale"><span>{low:.4g}</span><span>{high:.4g}</span></div>',
            f"<p>Heat-map scale, the same for every picture: anomaly score (smoothed inlier free energy, "
            f"higher = more anomalous), colormap {esc(colormap)}{tick}; scores outside the scale saturate.</p>",
            "</div>",
        ]
    parts += [f"<p>{esc(note)}</p>" for note in notes]
    if failures:
        parts.append(f'<h2 class="failed">{len(failures)} input(s) could not be processed</h2><ul class="failed">')
        parts += [f"<li>{esc(name)}: {esc(reason)}</li>" for name, reason in failures]
        parts.append("</ul>")
    for entry in entries:
        parts.append(f'<section class="item"><h2>{esc(entry.name)}</h2>')
        if entry.caption:
            parts.append(f'<p class="meta">{" &middot; ".join(esc(line) for line in entry.caption)}</p>')
        parts.append('<div class="grid">')
        parts += [_figure(entry.pictures[key], esc(heading), entry.posters.get(key), f"{entry.name}: {heading}")
                  for key, heading in COLUMNS if key in entry.pictures]
        parts.append("</div>")
        if entry.links:
            links = " &middot; ".join(f'<a href="{_url(path)}">{esc(label)}</a>' for label, path in entry.links)
            parts.append(f'<p class="links">{links}</p>')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def write_gallery(
    folder: str | os.PathLike,
    entries: Sequence[GalleryEntry],
    score_range: tuple[float, float] | None,
    colormap: str,
    threshold: float | None = None,
    title: str = "pebal predictions",
    notes: Sequence[str] = (),
    failures: Sequence[tuple[str, str]] = (),
    banner: str | None = None,
) -> Path:
    """Write ``folder/index.html`` and its legend ``folder/colorbar.png`` (atomically); returns the page."""
    from pebal.atomic import write_bytes_atomically
    from pebal.data.image_io import png_bytes
    from pebal.inference.render import colorbar

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if score_range is not None:
        bar = colorbar(score_range, colormap, width=512, height=18, threshold=threshold)
        write_bytes_atomically(folder / "colorbar.png", png_bytes(bar))
    page = render_gallery(entries, title, score_range, colormap, threshold, notes, failures, banner)
    path = folder / "index.html"
    write_bytes_atomically(path, page.encode("utf-8"))
    return path


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def prediction_entry(record: dict) -> GalleryEntry:
    """The gallery entry of one ``predictions.json`` output record."""
    files = record["files"]
    links = [(label, files[key]) for key, label in (("mask", "mask (PNG)"), ("segmentation", "segmentation (PNG)"),
                                                    ("score", "score map (.npy, H x W)"),
                                                    ("scores", "score maps (.npy, frames x H x W)"))
             if key in files]
    if record["kind"] == "video":
        fractions = [f for f in record.get("anomalous_fraction_per_frame", []) if f is not None]
        caption = [f"video, {record['frames']} frames of {record['width']}x{record['height']} at {record['fps']:g} fps",
                   f"score min / mean / max {record['score_min']:.2f} / {record['score_mean']:.2f} / "
                   f"{record['score_max']:.2f}"]
        if fractions:
            caption.append(f"anomalous pixels per frame: mean {_pct(sum(fractions) / len(fractions))}, "
                           f"max {_pct(max(fractions))}")
        if record.get("codec") == "mp4v":
            caption.append("mp4v video: browsers may not play it (VLC / mpv do); install pebal[video] for H.264")
        pictures = {"input": files.get("input")} if "input" in files else {}
        pictures.update({k: files[f"{k}_video"] for k in ("heatmap", "overlay", "final") if f"{k}_video" in files})
        posters = {k: files[k] for k in ("heatmap", "overlay", "final") if k in files}
        return GalleryEntry(record["name"], pictures, caption, posters, links)
    caption = [f"{record['width']}x{record['height']}",
               f"score min / mean / max {record['score_min']:.2f} / {record['score_mean']:.2f} / "
               f"{record['score_max']:.2f}"]
    if record.get("anomalous_fraction") is not None:
        caption.append(f"anomalous pixels {_pct(record['anomalous_fraction'])}")
    pictures = {k: files[k] for k, _ in COLUMNS if k in files}
    return GalleryEntry(record["name"], pictures, caption, {}, links)


def write_prediction_gallery(folder: str | os.PathLike, summary: dict) -> Path:
    """The gallery of a ``pebal predict`` folder from its ``predictions.json`` content."""
    threshold = summary["threshold"]
    calibration = summary.get("calibration")
    if threshold is None:
        threshold_note = ("threshold: none known, so no pixel is marked anomalous; calibrate the checkpoint "
                          "(pebal calibrate --checkpoint C --dataset CLEAN_IMAGES) or pass --threshold")
    else:
        threshold_note = f"threshold {threshold:.6g} (score >= threshold is anomalous)"
        if calibration:
            threshold_note += (f", calibrated with rule {calibration.get('rule')} on {calibration.get('num_images')} "
                               f"images of {calibration.get('root') or calibration.get('dataset')}, where it flags "
                               f"{_pct(calibration.get('flagged_fraction'))} of the pixels")
        elif summary.get("threshold_source") == "argument":
            threshold_note += ", from --threshold"
    notes = [f"checkpoint: {summary['checkpoint']}", threshold_note,
             f"heat-map scale: {summary.get('score_range_source')}"]
    done, total = len(summary["outputs"]), summary.get("inputs", len(summary["outputs"]))
    banner = None
    if summary.get("status") != "complete":
        banner = (f"This run is {summary.get('status', 'incomplete')}: {done} input(s) finished so far. Rerun the same "
                  "pebal predict command to resume; finished inputs are kept.")
    if summary.get("resumed"):
        notes.append(f"{summary['resumed']} input(s) were finished by an earlier run and kept")
    notes.append(f"{done} input(s) shown; {total} given to the latest run")
    failures = [(f["input"], f["reason"]) for f in summary["failures"]]
    entries = [prediction_entry(record) for record in summary["outputs"]]
    score_range = None if summary["score_range"] is None else tuple(summary["score_range"])
    return write_gallery(folder, entries, score_range, summary["colormap"], threshold, notes=notes,
                         failures=failures, banner=banner)
