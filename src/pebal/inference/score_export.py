"""Per-frame anomaly score maps for benchmarks whose test labels are hidden.

Formats (``score`` is PEBAL's anomaly score, :func:`pebal.energy.anomaly_score`, higher =
more anomalous, at the image's resolution):

* ``smiyc`` — SegmentMeIfYouCan's layout:
  ``<out>/anomaly_p/<method>/<folder>/<frame>.hdf5``, one float16 HDF5 dataset named
  ``value`` of shape (H, W) per frame; ``<folder>`` is where the benchmark reads the data set
  (:func:`benchmark_dataset_name`: ``AnomalyTrack-all``, ``ObstacleTrack-all``,
  ``LostAndFound-test``), so ``DIR_OUTPUTS=<out>`` lets the benchmark's code evaluate it;
* ``npy`` — ``<out>/<frame>.npy``, float32 (H, W) (Fishyscapes-style submissions);
* ``png`` — ``<out>/<frame>.png``, 16-bit grey, the frame's scores scaled linearly from
  [min, max] to [0, 65535]; ``<out>/png_ranges.json`` records each frame's (min, max), so
  ``score = min + png / 65535 * (max - min)`` up to quantisation.

Frames whose output exists are skipped unless ``overwrite``; files are written atomically.
With several processes (``torchrun``), process ``rank`` of ``world_size`` takes frames
``rank, rank + world_size, ...``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from pebal.atomic import write_atomically
from pebal.data.transforms import image_to_tensor
from pebal.energy import anomaly_score

FORMATS = ("smiyc", "npy", "png")

#: The SegmentMeIfYouCan benchmark's name of each (our data set, split). Facts from the
#: benchmark's code (github.com/SegmentMeIfYouCan/road-anomaly-benchmark, commit 1c7804e,
#: 2023-08-24, ``datasets/tracks.py`` and ``tracks_extra.py``).
SMIYC_SPLIT_NAMES = {
    ("smiyc-anomaly", "validation"): "AnomalyTrack-validation",
    ("smiyc-anomaly", "test"): "AnomalyTrack-test",
    ("smiyc-anomaly", "all"): "AnomalyTrack-all",
    ("smiyc-obstacle", "validation"): "ObstacleTrack-validation",
    ("smiyc-obstacle", "test"): "ObstacleTrack-test",
    ("smiyc-obstacle", "all"): "ObstacleTrack-all",
    **{(name, split): f"LostAndFound-{split}"
       for name in ("lostandfound", "lostandfound-pebal", "lostandfound-smiyc")
       for split in ("train", "test", "testNoKnown")},
}

#: The folder under ``anomaly_p/<method>/`` from which the benchmark reads each of its data
#: sets: the *persistence name* of the data set that loads the frame. AnomalyTrack-validation
#: and -test load their frames through AnomalyTrack-all; every ObstacleTrack split has the
#: persistence name ObstacleTrack-all; LostAndFound-testNoKnown (and -testValid) persist as
#: LostAndFound-test. So one export of the ``all`` / ``test`` frames serves every split.
SMIYC_PERSISTENCE_NAMES = {
    "AnomalyTrack-validation": "AnomalyTrack-all",
    "AnomalyTrack-test": "AnomalyTrack-all",
    "AnomalyTrack-all": "AnomalyTrack-all",
    "ObstacleTrack-validation": "ObstacleTrack-all",
    "ObstacleTrack-test": "ObstacleTrack-all",
    "ObstacleTrack-all": "ObstacleTrack-all",
    "LostAndFound-train": "LostAndFound-train",
    "LostAndFound-test": "LostAndFound-test",
    "LostAndFound-testNoKnown": "LostAndFound-test",
}


def smiyc_split_name(dataset: str, split: str | None) -> str | None:
    """The benchmark's name of our (data set, split), e.g. ``ObstacleTrack-test``; else None."""
    return SMIYC_SPLIT_NAMES.get((dataset, split))


def benchmark_dataset_name(dataset: str, split: str | None) -> str:
    """The folder of ``anomaly_p/<method>/<folder>/`` for a data set: where the SMIYC benchmark
    reads it (e.g. ``ObstacleTrack-all`` for ObstacleTrack test), else ``dataset-split``."""
    split_name = smiyc_split_name(dataset, split)
    if split_name is not None:
        return SMIYC_PERSISTENCE_NAMES[split_name]
    return dataset if split is None else f"{dataset}-{split}"


def default_format(dataset: str) -> str:
    """``smiyc`` for the data sets the SegmentMeIfYouCan benchmark evaluates, else ``npy``."""
    return "smiyc" if any(key[0] == dataset for key in SMIYC_SPLIT_NAMES) else "npy"


def output_path(out: Path, frame: str, fmt: str, method: str, dataset_name: str) -> Path:
    """Where ``frame``'s scores go."""
    if fmt == "smiyc":
        return out / "anomaly_p" / method / dataset_name / f"{frame}.hdf5"
    if fmt == "npy":
        return out / f"{frame}.npy"
    if fmt == "png":
        return out / f"{frame}.png"
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def write_scores(path: Path, scores: np.ndarray, fmt: str) -> tuple[float, float] | None:
    """Write one (H, W) score map atomically; returns (min, max) for ``png``."""
    lo = hi = None

    def write(tmp: str) -> None:
        nonlocal lo, hi
        if fmt == "smiyc":
            import h5py

            with np.errstate(over="ignore"):  # checked just below, with a message
                value = scores.astype(np.float16)
            if not np.isfinite(value).all() and np.isfinite(scores).all():
                raise ValueError(f"{path}: scores in [{scores.min():.4g}, {scores.max():.4g}] do not fit "
                                 "float16 (the SMIYC format); rescale them before export")
            with h5py.File(tmp, "w") as f:  # gzip level 9, as the benchmark's own writer
                f.create_dataset("value", data=value, compression="gzip", compression_opts=9)
        elif fmt == "npy":
            buffer = io.BytesIO()
            np.save(buffer, scores.astype(np.float32))
            Path(tmp).write_bytes(buffer.getvalue())
        else:
            from PIL import Image

            lo, hi = float(scores.min()), float(scores.max())
            scaled = (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
            Image.fromarray(np.round(scaled * 65535).astype(np.uint16)).save(tmp, format="PNG")

    write_atomically(path, write)
    return (lo, hi) if fmt == "png" else None


@torch.no_grad()
def frame_scores(model, image: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Anomaly scores (H, W) float32 of one uint8 RGB image (H, W, 3)."""
    x = image_to_tensor(image).unsqueeze(0).to(device)
    logits = model(x)
    return anomaly_score(logits, model.num_classes)[0].float().cpu().numpy()


def export_scores(model, dataset, out: str | os.PathLike, fmt: str = "smiyc", method: str = "PEBAL",
                  dataset_name: str = "dataset", device: str | torch.device = "cpu",
                  overwrite: bool = False, rank: int = 0, world_size: int = 1,
                  progress: bool = True) -> list[Path]:
    """Write the score map of every frame of ``dataset``; returns the paths written.

    Args:
        model: a :class:`pebal.model.PEBALModel` (e.g. from :func:`pebal.models.load_checkpoint`).
        dataset: sized, indexable; items have ``"image"`` and ``"name"``.
        fmt: ``"smiyc"``, ``"npy"`` or ``"png"``.
        method, dataset_name: the ``anomaly_p/<method>/<dataset_name>/`` folders (``smiyc``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
    out = Path(out)
    model = model.to(device).eval()
    indices = range(rank, len(dataset), world_size)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"scores {dataset_name}", unit="frame", disable=rank != 0)
    written: list[Path] = []
    ranges: dict[str, list[float]] = {}
    for i in indices:
        item = dataset[i]
        path = output_path(out, item["name"], fmt, method, dataset_name)
        if path.exists() and not overwrite:
            continue
        scores = frame_scores(model, item["image"], device)
        lo_hi = write_scores(path, scores, fmt)
        if lo_hi is not None:
            ranges[item["name"]] = list(lo_hi)
        written.append(path)
    if fmt == "png" and ranges:
        _merge_ranges(out / ("png_ranges.json" if world_size == 1 else f"png_ranges.rank{rank}.json"), ranges)
    return written


def _merge_ranges(path: Path, ranges: dict[str, list[float]]) -> None:
    """Add frames' (min, max) to the JSON index (kept across resumed runs)."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(ranges)
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(existing, indent=1, sort_keys=True)))


def read_png_scores(path: str | os.PathLike, ranges_file: str | os.PathLike, frame: str) -> np.ndarray:
    """Invert the ``png`` format: float32 scores of ``frame`` (up to 16-bit quantisation)."""
    from PIL import Image

    lo, hi = json.loads(Path(ranges_file).read_text())[frame]
    q = np.asarray(Image.open(path), dtype=np.float64) / 65535.0
    return (lo + q * (hi - lo)).astype(np.float32)
