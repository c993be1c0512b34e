"""``pebal calibrate`` on files: which data a folder or name holds, and where the result goes.

A folder given as ``--dataset DIR`` is read as

* **labelled anomaly data** when it has ``DIR/original/`` and ``DIR/labels/`` (the Fishyscapes
  layout of :class:`pebal.data.folder.FolderDataset`: labels 0 / 1 / 255), else
* **clean images**: the image files under ``DIR/images/`` when that folder exists (the
  embedded benchmark's ``inlier/val``), otherwise under ``DIR`` itself, searched recursively
  (hidden files and a ``labels/`` folder are skipped). Every pixel counts as inlier.

A registered data-set name with ``root`` opens that data set; the inlier segmentation sets
(:data:`CLEAN_DATASETS`) are read as clean images, their segmentation labels unused.

The result is written to a new checkpoint (``--out``, default
:func:`pebal.inference.calibrate.default_output`), never over the input unless ``in_place``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pebal.inference.calibrate import (DEFAULT_RULE, CalibrationResult, calibrate, calibrate_clean, default_output,
                                       parse_rule, write_calibrated)

class CalibrationInputError(ValueError):
    """The calibration cannot start as asked (data, rule or output file); nothing was written."""


#: Registered data sets that hold inlier scenes (segmentation labels, no anomalies).
CLEAN_DATASETS = ("cityscapes", "synthetic-inlier")

#: Extensions of clean images found in a folder.
CLEAN_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class CalibrationData:
    """What to calibrate on: ``kind`` "clean" or "labelled", the ``items`` (paths or a data set)."""

    kind: str
    items: object
    name: str
    root: str

    def describe(self) -> str:
        what = "clean images (every pixel counts as inlier)" if self.kind == "clean" else \
            "labelled anomaly data (0 inlier / 1 anomaly / 255 void)"
        return f"{len(self.items)} images of {self.name} at {self.root}: {what}"


def list_clean_images(folder: str | os.PathLike) -> list[Path]:
    """The image files of a clean-image folder (see the module docstring), sorted."""
    folder = Path(folder)
    if (folder / "images").is_dir():
        folder = folder / "images"
    found = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in CLEAN_EXTENSIONS
        and not any(part.startswith(".") or part == "labels" for part in p.relative_to(folder).parts)
    )
    if not found:
        raise CalibrationInputError(f"no image files ({', '.join(CLEAN_EXTENSIONS)}) under {folder}")
    return found


def open_calibration_data(dataset: str, root: str | os.PathLike | None = None,
                          split: str | None = None) -> CalibrationData:
    """Resolve ``--dataset`` / ``--root`` / ``--split`` (see the module docstring)."""
    from pebal.data import open_dataset

    if root is None:
        folder = Path(dataset)
        if not folder.is_dir():
            raise CalibrationInputError(f"--dataset {dataset!r} is not a folder; pass --root for a registered data set "
                                    "(e.g. --dataset synthetic-inlier --root ~/.cache/pebal/synth --split val)")
        if (folder / "original").is_dir() and (folder / "labels").is_dir():
            return CalibrationData("labelled", open_dataset("folder", folder), "folder", str(folder.resolve()))
        return CalibrationData("clean", list_clean_images(folder), "folder", str(folder.resolve()))
    kwargs = {} if split is None else {"split": split}
    data = open_dataset(dataset, root, **kwargs)
    kind = "clean" if dataset in CLEAN_DATASETS else "labelled"
    return CalibrationData(kind, data, dataset if split is None else f"{dataset}:{split}", str(Path(root).resolve()))


def run_calibration(predictor, data: CalibrationData, rule: str = DEFAULT_RULE, max_images: int | None = None,
                    progress: bool = False) -> CalibrationResult:
    """Calibrate ``predictor`` on ``data`` with ``rule`` (clean images take only ``budget=X``)."""
    kind, _ = parse_rule(rule)
    if data.kind == "clean":
        if kind != "budget":
            raise CalibrationInputError(f"rule {rule!r} needs anomaly labels, but {data.root} holds clean images "
                             "(no original/ + labels/ folders); use a false-alarm budget such as budget=1%, or "
                             "point --dataset at a labelled folder")
        return calibrate_clean(predictor, data.items, rule, max_images, dataset_name=data.name, root=data.root,
                               progress=progress)
    return calibrate(predictor, data.items, rule, max_images, dataset_name=data.name, root=data.root,
                     progress=progress)


def calibration_target(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None,
                       in_place: bool = False, overwrite: bool = False) -> Path:
    """The file a calibration writes: ``checkpoint`` itself (``in_place``), ``out``, or the default
    new name; a different existing file is refused unless ``overwrite``."""
    checkpoint = Path(checkpoint)
    if in_place and out is not None:
        raise CalibrationInputError("give either --in-place or --out, not both")
    target = checkpoint if in_place else Path(out) if out is not None else default_output(checkpoint)
    if not in_place and target.resolve() == checkpoint.resolve():
        raise CalibrationInputError(f"--out {target} is the input checkpoint; pass --in-place to rewrite it")
    if target.suffix != ".safetensors":
        raise CalibrationInputError(f"--out {target}: a calibrated checkpoint is a .safetensors file")
    if not in_place and target.exists() and not overwrite:
        raise CalibrationInputError(f"{target} exists; pass --overwrite to replace it, or --out NEW.safetensors")
    return target


def calibrate_checkpoint(checkpoint: str | os.PathLike, dataset: str, root: str | os.PathLike | None = None,
                         rule: str = DEFAULT_RULE, *, out: str | os.PathLike | None = None, in_place: bool = False,
                         overwrite: bool = False, write: bool = True, max_images: int | None = None,
                         split: str | None = None, device: str = "auto", window=None,
                         progress: bool = True, log=None) -> tuple[CalibrationResult, Path | None]:
    """Calibrate a checkpoint file and (``write``) store the result; returns ``(result, written path)``.

    Only pebal's safetensors checkpoints can carry the result (their JSON metadata); for a
    PyTorch ``.pth`` use ``write=False`` and pass the threshold to ``predict --threshold``.
    """
    from pebal.inference.predictor import Predictor
    from pebal.models.formats import detect_format

    parse_rule(rule)  # fail before the (slow) pass over the data
    target = calibration_target(checkpoint, out, in_place, overwrite) if write else None
    if write and detect_format(checkpoint) == "torch":
        raise CalibrationInputError(f"{checkpoint} is a PyTorch file, which has no metadata to store a threshold in; "
                         "convert it to safetensors, or use --dry-run and pass --threshold to predict")
    data = open_calibration_data(dataset, root, split)
    if log is not None:
        log(f"calibrating on {data.describe()}")
    # the checkpoint's own threshold and heat-map range must not influence anything here
    predictor = Predictor(checkpoint, device=device, window=window, keep_image=False, threshold=None,
                          score_range=(0.0, 1.0))
    result = run_calibration(predictor, data, rule, max_images, progress=progress)
    if target is not None:
        write_calibrated(checkpoint, target, result)
    return result, target
