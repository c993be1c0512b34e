"""``pebal predict`` on files: find the inputs, write each prediction's files, keep going on errors.

For an input image named ``NAME`` (its path relative to the folder it was found in, without
extension; a plain stem for files named directly) the output folder receives::

    NAME_score.npy         float32 (H, W) anomaly score (smoothed inlier free energy)
    NAME_heatmap.png       the score on the run's heat-map scale (legend in index.html)
    NAME_segmentation.png  inlier segmentation, Cityscapes palette
    NAME_final.png         the paper's final prediction: segmentation, anomalous pixels cyan
    NAME_overlay.png       the input, high scores tinted by the heat map, anomalies outlined cyan
    NAME_mask.png          uint8 0 / 255 anomaly mask (only when a threshold is known)
    NAME_input.jpg         a copy of the input for the gallery

A video ``NAME`` gives ``NAME_overlay.mp4``, ``NAME_heatmap.mp4`` and ``NAME_final.mp4``
(H.264, see :mod:`pebal.inference.video_encode`), ``NAME_scores.npy`` float32 (T, H, W)
with every frame's score map, and the pictures above for its first frame (the gallery's
posters; no ``NAME_score.npy``).

The heat-map scale is the checkpoint's calibrated one or ``--score-range``; with neither, the
robust range (1st-99.9th percentile) of the first input's scores, kept for the whole run and
recorded. ``predictions.json`` (standard JSON) lists every finished input with its files and
statistics, the scale and threshold used, the run's status and the inputs that failed with
the reason; ``index.html`` is the gallery (:mod:`pebal.inference.gallery`). Both are
rewritten as the run goes (status ``running``) and at its end (``complete``). An input whose
score map holds NaN or Inf fails (nothing is written for it). The folder's journal makes an
interrupted run resumable and refuses to mix runs (:mod:`pebal.inference.output_folder`).
"""

from __future__ import annotations

import glob
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pebal.atomic import write_bytes_atomically
from pebal.data.image_io import IMAGE_EXTENSIONS, png_bytes, read_image, write_jpeg
from pebal.inference import render
from pebal.inference.output_folder import open_output_folder
from pebal.inference.video import NonFiniteScoreError, is_video, predict_video
from pebal.paths import file_sha256

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


#: Pictures written per input (first frame for a video), by kind.
PICTURES = ("heatmap", "segmentation", "final", "overlay", "mask")

#: Seconds between rewrites of predictions.json / index.html during a run.
INDEX_EVERY = 10.0


def output_files(name: str, kind: str) -> list[str]:
    """Every file an input ``name`` of ``kind`` ("image" / "video") may get (a superset)."""
    files = [f"{name}_{key}.png" for key in PICTURES] + [f"{name}_input.jpg"]
    if kind == "video":
        return files + [f"{name}_{key}.mp4" for key in ("overlay", "heatmap", "final")] + [f"{name}_scores.npy"]
    return files + [f"{name}_score.npy"]


def write_image_outputs(prediction, out_dir: Path, name: str, save_score: bool = True) -> dict[str, str]:
    """Write the pictures (and score) of one prediction, each atomically; returns
    ``{kind: path relative to out_dir}``."""
    pictures = {
        "heatmap": prediction.heatmap(),
        "segmentation": prediction.segmentation_image(),
        "final": prediction.final_prediction(),
    }
    if prediction.image is not None:  # the overlay and the gallery copy need the input
        pictures["overlay"] = prediction.overlay()
    mask = prediction.mask
    if mask is not None:
        pictures["mask"] = mask.astype(np.uint8) * 255
    files = {key: f"{name}_{key}.png" for key in pictures}
    for key, picture in pictures.items():
        write_bytes_atomically(out_dir / files[key], png_bytes(picture))
    if prediction.image is not None:
        files["input"] = f"{name}_input.jpg"
        write_jpeg(out_dir / files["input"], prediction.image, quality=90)
    if save_score:
        files["score"] = f"{name}_score.npy"
        buffer = io.BytesIO()
        np.save(buffer, prediction.score.astype(np.float32))
        write_bytes_atomically(out_dir / files["score"], buffer.getvalue())
    return files


def run_settings(predictor, save_score: bool) -> dict:
    """What makes two runs' outputs comparable (see :mod:`pebal.inference.output_folder`)."""
    path = predictor.checkpoint_path
    return {
        "checkpoint": None if path is None else str(Path(path).resolve()),
        "checkpoint_sha256": None if path is None else file_sha256(path),
        "threshold": predictor.threshold,
        "score_range": None if predictor.score_range is None else list(predictor.score_range),
        "colormap": predictor.colormap,
        "window": None if predictor.window is None else list(predictor.window),
        "overlap": predictor.overlap if predictor.window is not None else None,
        "save_score": bool(save_score),
    }


def _signature(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class _Run:
    """One ``predict_files`` call: the journal, the heat-map scale, the index rewrites."""

    def __init__(self, predictor, out_dir: Path, save_score: bool, overwrite: bool, gallery: bool) -> None:
        self.predictor, self.out_dir, self.save_score, self.gallery = predictor, out_dir, save_score, gallery
        self.journal = open_output_folder(out_dir, run_settings(predictor, save_score), overwrite)
        self.score_range = predictor.score_range
        if self.score_range is None and self.journal.fitted_range is not None:
            self.score_range = tuple(self.journal.fitted_range)
        self.range_source = {"checkpoint": "the checkpoint's calibrated range", "argument": "--score-range"}.get(
            predictor.score_range_source, "fitted to the first input (1st-99.9th percentile of its scores)")
        self.last_index = time.monotonic()

    def fit_range(self, score_range) -> tuple[float, float]:
        if self.score_range is None:
            self.score_range = render.check_score_range(score_range)
            self.journal.record_range(self.score_range)
        return self.score_range

    def predict_image(self, item: InputItem) -> dict:
        prediction = self.predictor.predict(read_image(item.path), name=item.name)
        bad = prediction.non_finite()
        if bad:
            raise NonFiniteScoreError(f"the score map has {bad} non-finite values (NaN / Inf) of "
                                      f"{prediction.score.size} pixels; the checkpoint's weights or the image "
                                      "may be corrupt")
        prediction.score_range = self.fit_range(render.robust_range(prediction.score))
        files = write_image_outputs(prediction, self.out_dir, item.name, self.save_score)
        return {"name": item.name, "input": str(item.path), "kind": "image", "files": files, **prediction.summary()}

    def predict_video(self, item: InputItem) -> dict:
        out_dir, name = self.out_dir, item.name
        first: dict = {}

        def keep_first(index: int, prediction) -> None:
            if index == 0:
                first["files"] = write_image_outputs(prediction, out_dir, name, save_score=False)

        videos = {key: out_dir / f"{name}_{key}.mp4" for key in ("overlay", "heatmap", "final")}
        scores = out_dir / f"{name}_scores.npy" if self.save_score else None
        stats = predict_video(self.predictor, item.path, videos, on_prediction=keep_first, scores=scores,
                              score_range=self.score_range)
        self.fit_range(stats["score_range"])
        files = dict(first.get("files", {}))
        files.update({f"{k}_video": v.relative_to(out_dir).as_posix() for k, v in videos.items()})
        if scores is not None:
            files["scores"] = scores.relative_to(out_dir).as_posix()
        fractions = [f for f in stats["anomalous_fraction_per_frame"] if f is not None]
        return {"name": name, "input": str(item.path), "kind": "video", "files": files, **stats,
                "anomalous_fraction": float(np.mean(fractions)) if fractions else None}

    def summary(self, items: list[InputItem], failures: list[tuple[str, str]], status: str,
                unmatched: int = 0) -> dict:
        """The content of predictions.json; ``unmatched``: command-line inputs that named no file."""
        done = self.journal.done
        names = [i.name for i in items if i.name in done]
        names += sorted(set(done) - set(names))  # earlier runs' inputs that this run was not given
        predictor = self.predictor
        calibration = predictor.metadata.get("calibration") if predictor.threshold_source == "checkpoint" else None
        return {
            "status": status,
            "checkpoint": self.journal.settings["checkpoint"],
            "checkpoint_sha256": self.journal.settings["checkpoint_sha256"],
            "threshold": predictor.threshold,
            "threshold_source": predictor.threshold_source,
            "calibration": None if calibration is None else
            {k: calibration.get(k) for k in ("rule", "data", "dataset", "root", "num_images", "flagged_fraction")},
            "score_range": None if self.score_range is None else [float(v) for v in self.score_range],
            "score_range_source": self.range_source,
            "colormap": predictor.colormap,
            "window": None if predictor.window is None else list(predictor.window),
            "overlap": predictor.overlap if predictor.window is not None else None,
            "video_codec": sorted({done[n]["codec"] for n in names if done[n]["kind"] == "video"}) or None,
            "inputs": len(items) + unmatched,
            "resumed": self.journal.resumed,
            "outputs": [done[n] for n in names],
            "failures": [{"input": spec, "reason": reason} for spec, reason in failures],
        }

    def write_index(self, summary: dict) -> None:
        write_bytes_atomically(self.out_dir / "predictions.json", (dumps_indented(summary) + "\n").encode("utf-8"))
        if self.gallery:
            from pebal.inference.gallery import write_prediction_gallery

            write_prediction_gallery(self.out_dir, summary)
        else:  # an earlier run's page would no longer match the index
            for name in ("index.html", "colorbar.png"):
                (self.out_dir / name).unlink(missing_ok=True)
        self.last_index = time.monotonic()


def dumps_indented(value) -> str:
    """Indented standard JSON (no NaN / Infinity)."""
    import json

    return json.dumps(value, indent=2, allow_nan=False)


def predict_files(predictor, specs: list[str], out_dir: str | os.PathLike, gallery: bool = True,
                  save_score: bool = True, overwrite: bool = False, verbose: bool = False, log=None,
                  progress: bool | None = None, index_every: float = INDEX_EVERY) -> dict:
    """Predict every input of ``specs`` into ``out_dir``; a failing input is recorded and skipped.

    ``out_dir`` must be new, empty, or a folder of an earlier run with the same settings
    (resumed; see :mod:`pebal.inference.output_folder`); ``overwrite`` replaces an earlier
    run's outputs made with other settings. ``verbose`` logs one line per input to ``log``
    (default stderr); ``progress`` shows a bar (None: only on a terminal).

    Returns the summary also written to ``out_dir/predictions.json``:
    ``{"status", "outputs": [...], "failures": [{"input", "reason"}], "threshold", "score_range", ...}``.
    """
    log = sys.stderr if log is None else log
    out_dir = Path(out_dir)
    run = _Run(predictor, out_dir, save_score, overwrite, gallery)
    items, failures = expand_inputs(specs)
    unmatched = len(failures)
    if verbose:
        for spec, reason in failures:
            print(f"pebal predict: {spec}: {reason}", file=log)
    status = "interrupted"
    run.write_index(run.summary(items, failures, "running", unmatched))  # marked unfinished from the start
    bar = None
    if progress is not False and len(items) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="predict", unit="input", disable=None if progress is None else False)
    try:
        for item in items:
            signature = _signature(item.path)
            if run.journal.is_current(item.name, signature):
                run.journal.resumed += 1
            else:
                run.journal.start(item.name, output_files(item.name, item.kind))
                try:
                    record = run.predict_video(item) if item.kind == "video" else run.predict_image(item)
                except Exception as error:  # noqa: BLE001 - one bad input must not stop the others
                    reason = f"{type(error).__name__}: {error}"
                    run.journal.fail(item.name, reason)
                    failures.append((str(item.path), reason))
                    if verbose:
                        print(f"pebal predict: {item.path}: {reason}", file=log)
                else:
                    run.journal.finish({**record, "source": signature})
                    if verbose:
                        print(f"pebal predict: {item.path} -> {out_dir / item.name}_*", file=log)
            if bar is not None:
                bar.update(1)
            if time.monotonic() - run.last_index >= index_every:
                run.write_index(run.summary(items, failures, "running", unmatched))
        status = "complete"
    finally:
        if bar is not None:
            bar.close()
        summary = run.summary(items, failures, status, unmatched)
        run.write_index(summary)
    return summary
