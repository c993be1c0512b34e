"""``pebal predict`` on files: find the inputs, write each prediction's files, keep going on errors.

For an input image named ``NAME`` (its path relative to the folder it was found in, without
extension; a plain stem for files named directly) the output folder receives::

    NAME_score.npy         float32 (H, W) anomaly score (smoothed inlier free energy)
    NAME_heatmap.png       the score on the fixed scale of pebal.inference.render (legend in index.html)
    NAME_segmentation.png  inlier segmentation, Cityscapes palette
    NAME_final.png         the paper's final prediction: segmentation, anomalous pixels cyan
    NAME_overlay.png       the input blended with its heat map, anomalous pixels cyan
    NAME_mask.png          uint8 0 / 255 anomaly mask (only when a threshold is known)
    NAME_input.jpg         a copy of the input for the gallery

A video ``NAME`` gives ``NAME_overlay.mp4`` and ``NAME_final.mp4`` plus the pictures above
for its first frame (``NAME_score.npy`` only for that frame). ``predictions.json`` lists
every input, its files and score statistics, the scale and threshold used, and the inputs
that failed with the reason; ``index.html`` is the gallery (:mod:`pebal.inference.gallery`).
"""

from __future__ import annotations

import glob
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pebal.atomic import write_bytes_atomically
from pebal.data.image_io import IMAGE_EXTENSIONS, png_bytes, read_image, write_jpeg
from pebal.inference.video import is_video, predict_video

#: Extensions picked up when a folder is given (files named explicitly are tried whatever they are).
FOLDER_IMAGE_EXTENSIONS = tuple(IMAGE_EXTENSIONS) + (".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class InputItem:
    """One input to predict: ``path``, ``kind`` ("image" or "video") and its output ``name``."""

    path: Path
    kind: str
    name: str


def _unique(name: str, used: set[str]) -> str:
    candidate, k = name, 2
    while candidate in used:
        candidate, k = f"{name}-{k}", k + 1
    used.add(candidate)
    return candidate


def _kind(path: Path) -> str:
    return "video" if is_video(path) else "image"


def expand_inputs(specs: list[str]) -> tuple[list[InputItem], list[tuple[str, str]]]:
    """Turn command-line inputs (files, folders, glob patterns) into items and failures.

    Folders are searched recursively for images (:data:`FOLDER_IMAGE_EXTENSIONS`) and videos,
    in sorted order; a glob pattern (``*``, ``?``, ``[``; ``**`` recursive) expands to its
    matching files. A path that does not exist or a pattern that matches nothing is a failure
    ``(spec, reason)``. Output names that would collide get ``-2``, ``-3``, ... appended.
    """
    items: list[InputItem] = []
    failures: list[tuple[str, str]] = []
    used: set[str] = set()
    seen: set[Path] = set()

    def add(path: Path, name: str) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        items.append(InputItem(path, _kind(path), _unique(name, used)))

    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not p.name.startswith(".")
                and (p.suffix.lower() in FOLDER_IMAGE_EXTENSIONS or is_video(p))
            )
            if not found:
                failures.append((spec, "folder holds no image or video files"))
            for p in found:
                add(p, p.relative_to(path).with_suffix("").as_posix())
        elif path.is_file():
            add(path, path.stem)
        elif any(c in spec for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
            if not matches:
                failures.append((spec, "no file matches this pattern"))
            for p in matches:
                add(p, p.stem)
        else:
            failures.append((spec, "no such file or folder"))
    return items, failures


def write_image_outputs(prediction, out_dir: Path, name: str, save_score: bool = True) -> dict[str, str]:
    """Write the pictures (and score) of one prediction; returns ``{kind: path relative to out_dir}``."""
    pictures = {
        "heatmap": prediction.heatmap(),
        "segmentation": prediction.segmentation_image(),
        "final": prediction.final_prediction(),
    }
    if prediction.image is not None:  # the overlay and the gallery copy need the input
        pictures["overlay"] = prediction.overlay()
    files = {key: f"{name}_{key}.png" for key in pictures}
    for key, picture in pictures.items():
        write_bytes_atomically(out_dir / files[key], png_bytes(picture))
    if prediction.image is not None:
        files["input"] = f"{name}_input.jpg"
        write_jpeg(out_dir / files["input"], prediction.image, quality=90)
    mask = prediction.mask
    if mask is not None:
        files["mask"] = f"{name}_mask.png"
        write_bytes_atomically(out_dir / files["mask"], png_bytes(mask.astype(np.uint8) * 255))
    if save_score:
        files["score"] = f"{name}_score.npy"
        buffer = io.BytesIO()
        np.save(buffer, prediction.score.astype(np.float32))
        write_bytes_atomically(out_dir / files["score"], buffer.getvalue())
    return files


def predict_files(predictor, specs: list[str], out_dir: str | os.PathLike, gallery: bool = True,
                  save_score: bool = True, log=None) -> dict:
    """Predict every input of ``specs`` into ``out_dir``; a failing input is logged and skipped.

    Returns the summary also written to ``out_dir/predictions.json``:
    ``{"outputs": [...], "failures": [{"input", "reason"}], "threshold", "score_range", ...}``.
    """
    log = sys.stderr if log is None else log
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items, failures = expand_inputs(specs)
    for spec, reason in failures:
        print(f"pebal predict: {spec}: {reason}", file=log)
    outputs = []
    for item in items:
        try:
            if item.kind == "video":
                record = _predict_video_item(predictor, item, out_dir, save_score)
            else:
                prediction = predictor.predict(read_image(item.path), name=item.name)
                files = write_image_outputs(prediction, out_dir, item.name, save_score)
                record = {"name": item.name, "input": str(item.path), "kind": "image", "files": files,
                          **prediction.summary()}
        except Exception as error:  # noqa: BLE001 - one bad input must not stop the others
            reason = f"{type(error).__name__}: {error}"
            failures.append((str(item.path), reason))
            print(f"pebal predict: {item.path}: {reason}", file=log)
            continue
        outputs.append(record)
        print(f"pebal predict: {item.path} -> {out_dir / item.name}_*", file=log)
    summary = {
        "checkpoint": None if predictor.checkpoint_path is None else str(predictor.checkpoint_path),
        "threshold": predictor.threshold,
        "score_range": list(predictor.score_range),
        "colormap": predictor.colormap,
        "window": None if predictor.window is None else list(predictor.window),
        "overlap": predictor.overlap if predictor.window is not None else None,
        "outputs": outputs,
        "failures": [{"input": spec, "reason": reason} for spec, reason in failures],
    }
    write_bytes_atomically(out_dir / "predictions.json", json.dumps(summary, indent=2).encode("utf-8"))
    if gallery:
        _write_gallery(out_dir, summary)
    return summary


def _predict_video_item(predictor, item: InputItem, out_dir: Path, save_score: bool) -> dict:
    first: dict = {}

    def keep_first(index: int, prediction) -> None:
        if index == 0:
            first["files"] = write_image_outputs(prediction, out_dir, item.name, save_score)

    videos = {"overlay": out_dir / f"{item.name}_overlay.mp4", "final": out_dir / f"{item.name}_final.mp4"}
    stats = predict_video(predictor, item.path, videos, on_prediction=keep_first)
    files = dict(first.get("files", {}))
    files.update({f"{k}_video": v.relative_to(out_dir).as_posix() for k, v in videos.items()})
    return {"name": item.name, "input": str(item.path), "kind": "video", "files": files, **stats}


def _write_gallery(out_dir: Path, summary: dict) -> Path:
    from pebal.inference.gallery import GalleryEntry, write_gallery

    entries = []
    for record in summary["outputs"]:
        files = record["files"]
        if record["kind"] == "video":
            caption = [f"video, {record['frames']} frames at {record['fps']:g} fps (first frame shown)",
                       f"videos: {files['overlay_video']}, {files['final_video']}"]
        else:
            caption = [f"{record['width']}x{record['height']}",
                       f"score min/mean/max {record['score_min']:.2f} / {record['score_mean']:.2f} / "
                       f"{record['score_max']:.2f}"]
            if record["anomalous_fraction"] is not None:
                caption.append(f"anomalous pixels {100 * record['anomalous_fraction']:.2f} %")
        entries.append(GalleryEntry(record["name"], {k: files[k] for k in ("input", "heatmap", "overlay", "final")
                                                     if k in files}, caption))
    threshold = summary["threshold"]
    notes = [f"checkpoint: {summary['checkpoint']}",
             "threshold: " + ("none known (run `pebal calibrate`); no pixel is marked anomalous"
                              if threshold is None else f"{threshold:g} (score >= threshold is anomalous)")]
    failures = [(f["input"], f["reason"]) for f in summary["failures"]]
    return write_gallery(out_dir, entries, tuple(summary["score_range"]), summary["colormap"],
                         notes=notes, failures=failures)
