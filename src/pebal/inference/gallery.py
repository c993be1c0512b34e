"""A static HTML gallery of predictions: one row per input, pictures side by side.

``index.html`` is written into the prediction folder and refers to the pictures there by
relative paths, so it opens from disk (``file://``) with no server and survives moving the
whole folder. No scripts, no external resources. The legend shows the heat map's fixed
scale (low score at the left, high at the right) so that colours can be read as numbers.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Columns in display order: (key of :attr:`GalleryEntry.pictures`, column heading).
COLUMNS = (
    ("input", "input"),
    ("heatmap", "anomaly score (heat map)"),
    ("overlay", "overlay"),
    ("final", "final prediction (anomalies cyan)"),
)

_CSS = """
body { font-family: sans-serif; margin: 1em; background: #fafafa; color: #222; }
table { border-collapse: collapse; }
th, td { padding: 4px; vertical-align: top; text-align: left; }
tr.item { border-top: 1px solid #ccc; }
td img, td video { width: 320px; height: auto; display: block; }
.caption { font-size: 0.85em; color: #555; max-width: 240px; word-break: break-all; }
.legend img { width: 256px; height: 16px; display: inline-block; vertical-align: middle; }
.failed { color: #a00; }
"""


@dataclass
class GalleryEntry:
    """One row: a name, pictures by column key (paths relative to the gallery folder), captions.

    A picture path ending in ``.mp4`` / ``.webm`` is shown as a ``<video>`` (it plays only if
    the browser supports the codec), anything else as an ``<img>``.
    """

    name: str
    pictures: dict[str, str] = field(default_factory=dict)
    caption: list[str] = field(default_factory=list)


def _cell(path: str | None, alt: str) -> str:
    if path is None:
        return "<td></td>"
    src = html.escape(Path(path).as_posix(), quote=True)
    label = html.escape(alt, quote=True)
    if path.lower().endswith((".mp4", ".webm")):
        return f'<td><video src="{src}" controls muted loop title="{label}"></video></td>'
    return f'<td><a href="{src}"><img src="{src}" alt="{label}" loading="lazy"></a></td>'


def render_gallery(
    entries: Sequence[GalleryEntry],
    title: str,
    legend_image: str | None,
    score_range: tuple[float, float],
    colormap: str,
    notes: Sequence[str] = (),
    failures: Sequence[tuple[str, str]] = (),
) -> str:
    """The gallery page as an HTML string (see :func:`write_gallery`)."""
    low, high = score_range
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        '<p class="legend">heat-map scale (fixed, the same for every image): '
        f"<b>{low:.4g}</b> "
        + (f'<img src="{esc(legend_image, quote=True)}" alt="colour scale"> ' if legend_image else "")
        + f"<b>{high:.4g}</b> &mdash; anomaly score = smoothed inlier free energy, higher = more anomalous; "
        f"colormap {esc(colormap)}; scores outside the range saturate.</p>",
    ]
    parts += [f"<p>{esc(note)}</p>" for note in notes]
    if failures:
        parts.append(f'<h2 class="failed">{len(failures)} input(s) could not be processed</h2><ul class="failed">')
        parts += [f"<li>{esc(name)}: {esc(reason)}</li>" for name, reason in failures]
        parts.append("</ul>")
    parts.append("<table><thead><tr><th>name</th>")
    parts += [f"<th>{esc(heading)}</th>" for _, heading in COLUMNS]
    parts.append("</tr></thead><tbody>")
    for entry in entries:
        caption = "".join(f"<br>{esc(line)}" for line in entry.caption)
        parts.append(f'<tr class="item"><td class="caption"><b>{esc(entry.name)}</b>{caption}</td>')
        parts += [_cell(entry.pictures.get(key), f"{entry.name}: {heading}") for key, heading in COLUMNS]
        parts.append("</tr>")
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"


def write_gallery(
    folder: str | os.PathLike,
    entries: Sequence[GalleryEntry],
    score_range: tuple[float, float],
    colormap: str,
    title: str = "pebal predictions",
    notes: Sequence[str] = (),
    failures: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``folder/index.html`` and its legend ``folder/colorbar.png``; returns the page path."""
    from pebal.atomic import write_bytes_atomically
    from pebal.inference.render import colorbar
    from pebal.data.image_io import png_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(folder / "colorbar.png", png_bytes(colorbar(score_range, colormap)))
    page = render_gallery(entries, title, "colorbar.png", score_range, colormap, notes, failures)
    path = folder / "index.html"
    write_bytes_atomically(path, page.encode("utf-8"))
    return path
