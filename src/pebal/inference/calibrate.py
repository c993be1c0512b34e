"""Choose the anomaly threshold on validation data and store it in the checkpoint.

``calibrate`` runs the :class:`~pebal.inference.predictor.Predictor` over an anomaly data set (labels
0 inlier / 1 anomaly / 255 void), accumulates the exact pixel counts of
:class:`pebal.metrics.state.AnomalyMetrics` and picks an operating point with
:mod:`pebal.metrics.operating` ("anomaly iff score >= threshold"):

    rule ``tpr95``    the highest threshold catching >= 95 % of the anomalous pixels
    rule ``best-f1``  the threshold of the best pixel F1 = 2 TP / (TP + FP + P)
    rule ``fpr=X``    the lowest threshold letting through <= X of the inlier pixels (0 < X < 1)

It also fits the heat-map scale: ``heatmap_range = (1st, 99th percentile)`` of the scores of
the evaluated pixels (every ``stride``-th pixel per axis, ``stride`` chosen so that at most
about 65,536 pixels per image are kept). :func:`calibrate_checkpoint` stores, in the
checkpoint metadata::

    "threshold":     float
    "heatmap_range": [low, high]
    "calibration":   {"rule", "dataset", "root", "num_images", "operating_point" {threshold,
                      tpr, fpr, precision, f1, ...}, "metrics" {auroc, ap, fpr95, ...}}

which :class:`~pebal.inference.predictor.Predictor` reads back for masks and heat maps.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from pebal.labels import IGNORE_INDEX

#: Pixels per image kept (about) for the heat-map percentiles.
PERCENTILE_SAMPLES = 65536


def parse_rule(rule: str) -> tuple[str, float | None]:
    """``"tpr95"`` -> ("tpr", 0.95); ``"best-f1"`` -> ("best-f1", None); ``"fpr=0.05"`` -> ("fpr", 0.05)."""
    text = rule.strip().lower()
    if text == "tpr95":
        return "tpr", 0.95
    if text in ("best-f1", "best_f1", "bestf1"):
        return "best-f1", None
    if text.startswith("fpr="):
        try:
            value = float(text[4:])
        except ValueError:
            value = math.nan
        if not 0.0 < value < 1.0:
            raise ValueError(f"rule {rule!r}: the FPR after 'fpr=' must be a number in (0, 1), e.g. fpr=0.05")
        return "fpr", value
    raise ValueError(f"unknown calibration rule {rule!r}; valid: tpr95, best-f1, fpr=X (0 < X < 1)")


def _sample(score: np.ndarray, label: np.ndarray) -> np.ndarray:
    """A regular subsample (every ``stride``-th pixel per axis) of the evaluated scores."""
    stride = max(1, math.ceil(math.sqrt(score.size / PERCENTILE_SAMPLES)))
    s, lab = score[::stride, ::stride], label[::stride, ::stride]
    return s[lab != IGNORE_INDEX]


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found (all plain numbers, JSON-ready through :meth:`metadata`)."""

    rule: str
    threshold: float
    operating_point: dict
    metrics: dict
    heatmap_range: tuple[float, float]
    num_images: int
    dataset: str | None = None
    root: str | None = None
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        """The checkpoint-metadata entries (see the module docstring)."""
        return {
            "threshold": self.threshold,
            "heatmap_range": [float(v) for v in self.heatmap_range],
            "calibration": {
                "rule": self.rule,
                "dataset": self.dataset,
                "root": self.root,
                "num_images": self.num_images,
                "operating_point": self.operating_point,
                "metrics": self.metrics,
                **self.extra,
            },
        }

    def describe(self) -> str:
        op, m = self.operating_point, self.metrics
        return (
            f"rule {self.rule} on {self.num_images} images of {self.dataset or 'the data set'}: "
            f"threshold {self.threshold:.6g} -> TPR {op['tpr']:.4f}, FPR {op['fpr']:.4f}, "
            f"precision {op['precision']:.4f}, F1 {op['f1']:.4f}\n"
            f"validation AUROC {m['auroc']:.4f}, AP {m['ap']:.4f}, FPR95 {m['fpr95']:.4f}; "
            f"heat-map range [{self.heatmap_range[0]:.3f}, {self.heatmap_range[1]:.3f}]"
        )


def calibrate(predictor, dataset, rule: str = "tpr95", max_images: int | None = None,
              dataset_name: str | None = None, root: str | None = None, progress: bool = False) -> CalibrationResult:
    """Pick a threshold for ``predictor`` on ``dataset`` (items ``{"image", "label", "name"}``).

    Raises ``ValueError`` for an unknown rule, an empty data set or a label map whose size
    differs from its image, and :class:`pebal.metrics.errors.MissingClassError` when the data
    holds no anomalous or no inlier pixel.
    """
    from pebal.metrics.operating import best_f1_threshold, threshold_at_fpr, threshold_at_tpr
    from pebal.metrics.state import AnomalyMetrics

    kind, value = parse_rule(rule)
    count = len(dataset) if max_images is None else min(len(dataset), int(max_images))
    if count < 1:
        raise ValueError(f"data set {dataset_name or dataset!r} has no images to calibrate on")
    state = AnomalyMetrics(ignore_index=IGNORE_INDEX)
    samples = []
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="calibrate", unit="image")
    for i in indices:
        item = dataset[i]
        label = np.asarray(item["label"])
        if label.shape != item["image"].shape[:2]:
            raise ValueError(f"{item.get('name', i)}: label size {label.shape} differs from image size "
                             f"{item['image'].shape[:2]}")
        prediction = predictor.predict(item["image"], name=item.get("name"))
        state.update(prediction.score, label)
        samples.append(_sample(prediction.score, label))
    if kind == "tpr":
        point = threshold_at_tpr(state, value)
    elif kind == "fpr":
        point = threshold_at_fpr(state, value)
    else:
        point = best_f1_threshold(state)
    if not math.isfinite(point.threshold):
        lowest = threshold_at_tpr(state, 0.0)  # the highest anomaly score: the fewest inliers above it
        raise ValueError(f"rule {rule!r} cannot be met on this data: even at the highest anomaly score "
                         f"({lowest.threshold:.6g}) the FPR is {lowest.fpr:.4f}; allow a larger FPR or use "
                         "tpr95 / best-f1")
    low, high = (float(v) for v in np.percentile(np.concatenate(samples), [1.0, 99.0]))
    if not high > low:  # a constant score map: any non-empty range will do
        low, high = low - 1.0, high + 1.0
    return CalibrationResult(
        rule=rule,
        threshold=float(point.threshold),
        operating_point={k: (float(v) if isinstance(v, float) else int(v)) for k, v in asdict(point).items()},
        metrics={k: v for k, v in state.compute().items() if isinstance(v, (int, float, str))},
        heatmap_range=(low, high),
        num_images=count,
        dataset=dataset_name,
        root=root,
    )


def calibrate_checkpoint(checkpoint: str | os.PathLike, dataset_name: str, root: str | os.PathLike,
                         rule: str = "tpr95", max_images: int | None = None, device: str = "auto",
                         window=None, write: bool = True, dataset_kwargs: dict | None = None) -> CalibrationResult:
    """Calibrate a checkpoint file on ``open_dataset(dataset_name, root)`` and (``write``) store it.

    Only pebal's safetensors checkpoints can store the result (their JSON metadata); for a
    PyTorch ``.pth`` use ``write=False`` and pass the threshold to ``predict --threshold``.
    """
    from pebal.data import open_dataset
    from pebal.models.checkpoint import update_metadata
    from pebal.models.formats import detect_format
    from pebal.inference.predictor import Predictor

    parse_rule(rule)  # fail before the (slow) pass over the data
    if write and detect_format(checkpoint) == "torch":
        raise ValueError(f"{checkpoint} is a PyTorch file, which has no metadata to store a threshold in; "
                         "convert it to safetensors, or use --dry-run and pass --threshold to predict")
    dataset = open_dataset(dataset_name, root, **(dataset_kwargs or {}))
    # the heat-map range of the checkpoint must not influence anything here; keep_image off saves memory
    predictor = Predictor(checkpoint, device=device, window=window, keep_image=False)
    result = calibrate(predictor, dataset, rule, max_images, dataset_name=dataset_name, root=str(root),
                       progress=True)
    if write:
        update_metadata(checkpoint, **result.metadata())
    return result
