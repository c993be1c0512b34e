"""Choose the anomaly threshold ("anomaly iff score >= threshold") by a rule, on validation data.

Two kinds of data, two kinds of rules:

**Clean images** (ordinary driving images, no anomaly labels; every pixel counts as inlier)::

    budget=X   a false-alarm budget: the lowest threshold that flags at most X of all the
               pixels seen, pooled over the images. X is a fraction (0.01) or a percentage (1%).

**Labelled anomaly data** (labels 0 inlier / 1 anomaly / 255 void), exact pixel counts of
:class:`pebal.metrics.state.AnomalyMetrics` and :mod:`pebal.metrics.operating`::

    budget=X   the same budget on the inlier (label 0) pixels only, i.e. the same as fpr=X
    fpr=X      the lowest threshold letting through at most X of the inlier pixels
    tpr95      the highest threshold catching >= 95 % of the anomalous pixels
    best-f1    the threshold of the best pixel F1 = 2 TP / (TP + FP + P)

:data:`DEFAULT_RULE` is ``budget=1%``: a deployment threshold is a false-alarm budget, it
needs only clean images, and on the embedded benchmark it flags about 1 % of a clean image
where ``tpr95`` flags most of every image (see the README, "Your own images and video").

Every result reports the fraction of pixels the threshold flags on the data it saw
(``flagged_fraction``, pooled; and per image: median / 95th percentile / max for clean
images). It also fits the heat-map scale (:func:`heatmap_range`). :func:`calibrate_checkpoint`
stores, in the checkpoint metadata::

    "threshold":     float
    "heatmap_range": [low, high]
    "calibration":   {"rule", "data" ("clean images" | "labelled"), "dataset", "root",
                      "num_images", "pixels", "flagged_fraction", "per_image_flagged" (clean),
                      "operating_point", "metrics" (labelled)}

which :class:`~pebal.inference.predictor.Predictor` reads back for masks and heat maps.
Memory: 4 bytes per pixel seen, for either kind (exact thresholds); use ``max_images`` on
very large folders.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pebal.labels import IGNORE_INDEX

#: The rule used when none is given (see the module docstring for why).
DEFAULT_RULE = "budget=1%"

#: Pixels per image kept (about) for the heat-map percentiles of labelled data.
PERCENTILE_SAMPLES = 65536

#: Rules that need anomaly labels.
LABELLED_RULES = ("tpr", "fpr", "best-f1")

_RULE_HELP = "valid: budget=X (clean images), fpr=X, tpr95, best-f1; X a fraction (0.01) or a percentage (1%)"


def _parse_fraction(rule: str, text: str, name: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(%?)\s*", text)
    value = math.nan
    if match:
        value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    if not 0.0 < value < 1.0:
        raise ValueError(f"rule {rule!r}: the {name} after '=' must be a fraction in (0, 1) or a percentage "
                         f"in (0 %, 100 %), e.g. {name.split()[0]}=0.05 or {name.split()[0]}=5%")
    return value


def parse_rule(rule: str) -> tuple[str, float | None]:
    """``"tpr95"`` -> ("tpr", 0.95); ``"best-f1"`` -> ("best-f1", None); ``"fpr=5%"`` or
    ``"fpr=0.05"`` -> ("fpr", 0.05); ``"budget=1%"`` -> ("budget", 0.01)."""
    text = rule.strip().lower()
    if text == "tpr95":
        return "tpr", 0.95
    if text in ("best-f1", "best_f1", "bestf1"):
        return "best-f1", None
    for kind, name in (("fpr", "fpr"), ("budget", "budget (flagged fraction)")):
        if text.startswith(kind + "="):
            return kind, _parse_fraction(rule, text[len(kind) + 1:], name)
    raise ValueError(f"unknown calibration rule {rule!r}; {_RULE_HELP}")


def budget_threshold(scores: np.ndarray, budget: float) -> tuple[float, int]:
    """The lowest threshold ``t`` among ``scores`` with ``count(scores >= t) <= floor(budget * n)``.

    ``scores`` (P,) float32, any order; returns ``(t, count(scores >= t))``. With ties at the
    cut the next higher distinct score is taken, so the budget is never exceeded. Raises
    ValueError when the budget is below one pixel or every pixel shares the top score.
    """
    scores = np.asarray(scores, dtype=np.float32).ravel()
    n = scores.size
    k = int(math.floor(budget * n))
    if k < 1:
        raise ValueError(f"a budget of {budget:.4g} of {n} pixels is less than one pixel; "
                         "calibrate on more images or allow a larger budget")
    # the k-th largest value: everything above it is in the top k
    kth = float(np.partition(scores, n - k)[n - k])
    above = scores[scores > kth]
    count_at = int(np.count_nonzero(scores >= kth))
    if count_at <= k:
        return kth, count_at
    if above.size == 0:
        raise ValueError(f"every one of the top {count_at} pixels has the same score {kth:.6g}; "
                         f"no threshold flags at most {k} pixels")
    threshold = float(above.min())
    return threshold, int(above.size)


def heatmap_range(scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """The heat-map scale fitted to calibration scores (P,) and the chosen threshold.

    ``low`` = 1st percentile; ``high`` = the larger of the 99.9th percentile and
    ``threshold + (threshold - low) / 3``, so the scale covers all but 0.1 % of the pixels seen
    and the threshold lies at most at 3/4 of it: flagged pixels take the top colours and
    stronger evidence still reads brighter.
    """
    low, top = (float(v) for v in np.percentile(scores, [1.0, 99.9]))
    high = max(top, threshold + (threshold - low) / 3.0)
    if not high > low:  # a constant score map: any non-empty range will do
        low, high = low - 1.0, high + 1.0
    return low, high


@dataclass
class CalibrationResult:
    """What a calibration found (plain numbers, JSON-ready through :meth:`metadata`)."""

    rule: str
    threshold: float
    heatmap_range: tuple[float, float]
    num_images: int
    pixels: int
    flagged_fraction: float
    data: str = "labelled"
    operating_point: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    per_image_flagged: dict | None = None
    dataset: str | None = None
    root: str | None = None
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        """The checkpoint-metadata entries (see the module docstring); finite numbers only."""
        for name, value in (("threshold", self.threshold), ("heatmap_range", self.heatmap_range[0]),
                            ("heatmap_range", self.heatmap_range[1])):
            if not math.isfinite(value):
                raise ValueError(f"calibration produced a non-finite {name} ({value}); the score maps "
                                 "hold NaN or Inf (corrupt weights or input?)")
        calibration = {
            "rule": self.rule,
            "data": self.data,
            "dataset": self.dataset,
            "root": self.root,
            "num_images": self.num_images,
            "pixels": self.pixels,
            "flagged_fraction": self.flagged_fraction,
        }
        if self.per_image_flagged is not None:
            calibration["per_image_flagged"] = self.per_image_flagged
        if self.data == "labelled":
            calibration["operating_point"] = self.operating_point
            calibration["metrics"] = self.metrics
        calibration.update(self.extra)
        return {"threshold": self.threshold, "heatmap_range": [float(v) for v in self.heatmap_range],
                "calibration": _finite_or_none(calibration)}

    def describe(self) -> str:
        where = self.dataset or "the data"
        lines = [f"rule {self.rule} on {self.num_images} {'clean ' if self.data == 'clean images' else ''}"
                 f"images of {where}: threshold {self.threshold:.6g}",
                 f"flags {100 * self.flagged_fraction:.2f} % of the {self.pixels:,} pixels it saw"]
        if self.per_image_flagged is not None:
            p = self.per_image_flagged
            lines[-1] += (f" (per image: median {100 * p['median']:.2f} %, 95th percentile {100 * p['p95']:.2f} %, "
                          f"max {100 * p['max']:.2f} %)")
        if self.data == "labelled":
            op, m = self.operating_point, self.metrics
            lines.append(f"on the labelled pixels: TPR {op['tpr']:.4f}, FPR {op['fpr']:.4f}, precision "
                         f"{op['precision']:.4f}, F1 {op['f1']:.4f}; AUROC {m['auroc']:.4f}, AP {m['ap']:.4f}, "
                         f"FPR95 {m['fpr95']:.4f}")
        lines.append(f"heat-map range [{self.heatmap_range[0]:.3f}, {self.heatmap_range[1]:.3f}]")
        return "\n".join(lines)


def _finite_or_none(value):
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN / Inf)."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_finite(score: np.ndarray, name) -> None:
    bad = int(np.count_nonzero(~np.isfinite(score)))
    if bad:
        raise ValueError(f"{name}: the score map has {bad} non-finite values (NaN / Inf) of {score.size} pixels; "
                         "the checkpoint's weights or the image may be corrupt")


def _progress(iterable, total: int, progress: bool):
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc="calibrate", unit="image")


def calibrate_clean(predictor, images: Iterable, rule: str = DEFAULT_RULE, max_images: int | None = None,
                    dataset_name: str | None = None, root: str | None = None,
                    progress: bool = False) -> CalibrationResult:
    """A ``budget=X`` threshold on clean images (every pixel counts as inlier).

    ``images``: arrays (H, W, 3) uint8, image paths, ``(name, array)`` pairs or data-set items
    ``{"image", ...}`` (labels, if any, are ignored).
    """
    kind, budget = parse_rule(rule)
    if kind != "budget":
        raise ValueError(f"rule {rule!r} needs anomaly labels (0 inlier / 1 anomaly / 255 void); on clean "
                         "images use a false-alarm budget, e.g. budget=1%")
    if not (hasattr(images, "__len__") and hasattr(images, "__getitem__")):
        images = list(images)  # a data set is indexed lazily; anything else is listed once
    count = len(images) if max_images is None else min(len(images), int(max_images))
    if count < 1:
        raise ValueError(f"no images to calibrate on in {root or dataset_name or 'the input'}")
    scores: list[np.ndarray] = []
    for i in _progress(range(count), count, progress):
        item = images[i]
        if isinstance(item, dict):
            item = (str(item.get("name", i)), item["image"])
        prediction = predictor.predict(item)
        _check_finite(prediction.score, prediction.name or f"image {i}")
        scores.append(prediction.score.ravel())
    pooled = np.concatenate(scores)
    threshold, flagged = budget_threshold(pooled, budget)
    del pooled
    per_image = np.array([np.count_nonzero(s >= np.float32(threshold)) / s.size for s in scores])
    low, high = heatmap_range(np.concatenate([s[:: max(1, s.size // PERCENTILE_SAMPLES)] for s in scores]), threshold)
    pixels = int(sum(s.size for s in scores))
    return CalibrationResult(
        rule=rule, threshold=threshold, heatmap_range=(low, high), num_images=count, pixels=pixels,
        flagged_fraction=flagged / pixels, data="clean images",
        per_image_flagged={"median": float(np.median(per_image)), "p95": float(np.percentile(per_image, 95)),
                           "max": float(per_image.max())},
        dataset=dataset_name, root=root,
    )


def _sample(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    """A regular subsample (every ``stride``-th pixel per axis) of the evaluated scores."""
    stride = max(1, math.ceil(math.sqrt(score.size / PERCENTILE_SAMPLES)))
    s, lab = score[::stride, ::stride], label[::stride, ::stride]
    return s[lab != IGNORE_INDEX]


def calibrate(predictor, dataset, rule: str = DEFAULT_RULE, max_images: int | None = None,
              dataset_name: str | None = None, root: str | None = None, progress: bool = False) -> CalibrationResult:
    """Pick a threshold for ``predictor`` on labelled ``dataset`` (items ``{"image", "label", "name"}``).

    Raises ``ValueError`` for an unknown rule, an empty data set, a label map whose size
    differs from its image or non-finite scores, and
    :class:`pebal.metrics.errors.MissingClassError` when the data holds no anomalous or no
    inlier pixel.
    """
    from pebal.metrics.operating import best_f1_threshold, threshold_at_fpr, threshold_at_tpr
    from pebal.metrics.state import AnomalyMetrics

    kind, value = parse_rule(rule)
    count = len(dataset) if max_images is None else min(len(dataset), int(max_images))
    if count < 1:
        raise ValueError(f"data set {dataset_name or dataset!r} has no images to calibrate on")
    state = AnomalyMetrics(ignore_index=IGNORE_INDEX)
    samples = []
    for i in _progress(range(count), count, progress):
        item = dataset[i]
        label = np.asarray(item["label"])
        if label.shape != item["image"].shape[:2]:
            raise ValueError(f"{item.get('name', i)}: label size {label.shape} differs from image size "
                             f"{item['image'].shape[:2]}")
        prediction = predictor.predict(item["image"], name=item.get("name"))
        _check_finite(prediction.score, item.get("name", f"image {i}"))
        state.update(prediction.score, label)
        samples.append(_sample(prediction.score, label))
    if kind == "tpr":
        point = threshold_at_tpr(state, value)
    elif kind in ("fpr", "budget"):
        point = threshold_at_fpr(state, value)
    else:
        point = best_f1_threshold(state)
    if not math.isfinite(point.threshold):
        lowest = threshold_at_tpr(state, 0.0)  # the highest anomaly score: the fewest inliers above it
        raise ValueError(f"rule {rule!r} cannot be met on this data: even at the highest anomaly score "
                         f"({lowest.threshold:.6g}) the FPR is {lowest.fpr:.4f}; allow a larger FPR or use "
                         "tpr95 / best-f1")
    pixels = state.num_positive + state.num_negative
    return CalibrationResult(
        rule=rule,
        threshold=float(point.threshold),
        heatmap_range=heatmap_range(np.concatenate(samples), float(point.threshold)),
        num_images=count,
        pixels=int(pixels),
        flagged_fraction=(point.true_positives + point.false_positives) / pixels,
        data="labelled",
        operating_point={k: (float(v) if isinstance(v, float) else int(v)) for k, v in asdict(point).items()},
        metrics={k: v for k, v in state.compute().items() if isinstance(v, (int, float, str))},
        dataset=dataset_name,
        root=root,
    )


def default_output(checkpoint: str | os.PathLike) -> Path:
    """Where a calibrated copy goes by default: ``NAME.calibrated.safetensors`` beside ``NAME.*``."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.calibrated.safetensors")


def write_calibrated(source: str | os.PathLike, target: str | os.PathLike, result: CalibrationResult) -> Path:
    """Write ``source``'s weights and metadata plus ``result`` to ``target`` (atomically; may equal ``source``)."""
    from safetensors.torch import load_file, save_file

    from pebal.atomic import write_atomically
    from pebal.models.checkpoint import METADATA_KEY, read_metadata

    meta = read_metadata(source)
    meta.update(result.metadata())
    meta["calibrated_from"] = str(Path(source).resolve())
    text = json.dumps(meta, allow_nan=False)
    state = load_file(str(source))
    write_atomically(target, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: text}))
    return Path(target)
