"""Evaluation of trained runs: named scorers on one or several models, per-image exact counts, timings.

A scorer maps ``(logits (N, C, H, W), features (N, D, h, w) or None)`` to (N, H, W) scores,
higher = more anomalous. :func:`build_scorers` makes them from score names: every entry of
:data:`pebal.scores.SCORES`, plus ``sml`` and ``mahalanobis`` (which need fitted statistics).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from pebal.data.transforms import image_to_tensor
from pebal.data.batching import batches
from pebal.experiments.bootstrap import PerImageCounts
from pebal.scores import ABSTENTION_SCORES, SCORES, get_score

Scorer = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
FITTED_SCORES = ("sml", "mahalanobis")


def _smoothed(scorer: Scorer, kernel: int) -> Scorer:
    """``scorer`` followed by a ``kernel`` x ``kernel`` Gaussian (sigma 1, reflect border; 1: none)."""
    from pebal.energy import gaussian_smooth

    if kernel == 1:
        return scorer
    return lambda logits, features: gaussian_smooth(scorer(logits, features).float(), kernel, 1.0)


def build_scorers(names: list[str], num_classes: int, sml=None, mahalanobis=None) -> dict[str, Scorer]:
    """Scorers by name; ``sml`` / ``mahalanobis``: the fitted statistics those two need.
    ``NAME@kK`` is score ``NAME`` smoothed by a K x K Gaussian with sigma 1 (``energy@k7`` is
    ``pebal``; ``@k1`` leaves the score as it is)."""
    scorers: dict[str, Scorer] = {}
    for full in names:
        name, _, kernel = full.partition("@k")
        if kernel:
            if not kernel.isdigit() or int(kernel) % 2 != 1:
                raise ValueError(f"score {full!r}: the smoothing suffix must be @k<odd kernel size>, e.g. energy@k3")
            scorers[full] = _smoothed(build_scorers([name], num_classes, sml, mahalanobis)[name], int(kernel))
            continue
        if name == "sml":
            if sml is None:
                raise ValueError("the 'sml' score needs fitted SML statistics")
            scorers[name] = lambda logits, _features, s=sml: s.score(logits)
        elif name == "mahalanobis":
            if mahalanobis is None:
                raise ValueError("the 'mahalanobis' score needs fitted Mahalanobis statistics")
            scorers[name] = lambda logits, features, s=mahalanobis: s.score(features, size=tuple(logits.shape[2:]))
        elif name in SCORES or name in ABSTENTION_SCORES:
            scorers[name] = lambda logits, _features, fn=get_score(name): fn(logits, num_classes)
        else:
            valid = [*SCORES, *ABSTENTION_SCORES, *FITTED_SCORES]
            raise ValueError(f"unknown score {name!r}; valid: {', '.join(valid)}")
    return scorers


def score_dataset(dataset, model, scorers: dict[str, Scorer], batch_size: int = 8,
                  device: torch.device | str = "cpu", progress: bool = False,
                  desc: str = "evaluate") -> dict[str, PerImageCounts]:
    """Every scorer on every image of an anomaly ``dataset`` (labels 0 / 1 / 255), one
    forward pass per batch; returns one :class:`PerImageCounts` per scorer."""
    return score_models(dataset, {"model": model}, {"model": scorers}, batch_size, device, progress, desc)["model"]


@torch.no_grad()
def score_models(dataset, models: dict[str, torch.nn.Module], scorers: dict[str, dict[str, Scorer]],
                 batch_size: int = 8, device: torch.device | str = "cpu", progress: bool = False,
                 desc: str = "evaluate") -> dict[str, dict[str, PerImageCounts]]:
    """Each model's scorers on every image of an anomaly ``dataset``, in one pass.

    ``scorers[key]`` are the scorers of ``models[key]``. Models that differ only in their final
    block (the rows of one backbone: pretrained, every trained setting) share one trunk pass
    per batch (:class:`pebal.evaluation.shared_trunk.SharedForward`); the counts are exactly
    those of :func:`score_dataset` on each model alone. Returns ``{key: {score: counts}}``.
    ``progress`` shows a bar (images) labelled ``desc``.
    """
    from contextlib import ExitStack

    from pebal.baselines.mahalanobis import classifier_features
    from pebal.evaluation.shared_trunk import SharedForward
    from tqdm import tqdm

    if set(scorers) != set(models):
        raise ValueError(f"scorers are keyed {sorted(scorers)}, models {sorted(models)}: expected the same keys")
    for model in models.values():
        model.eval()
    states = {key: {name: PerImageCounts() for name in scorers[key]} for key in models}
    forward = SharedForward(models)
    with ExitStack() as stack:
        stores = {key: stack.enter_context(classifier_features(model)) for key, model in models.items()
                  if "mahalanobis" in scorers[key]}
        bar = stack.enter_context(tqdm(total=len(dataset), desc=desc, unit="img", disable=not progress,
                                       dynamic_ncols=True, leave=False))
        for batch in batches(dataset, batch_size, range(len(dataset))):
            x = torch.stack([image_to_tensor(item["image"]) for item in batch]).to(device)
            labels = np.stack([item["label"] for item in batch])
            for key, logits in forward(x).items():
                features = stores[key][0] if key in stores else None
                for name, scorer in scorers[key].items():
                    states[key][name].update(scorer(logits, features).float().cpu().numpy(), labels)
            bar.update(len(batch))
    return states


@torch.no_grad()
def inference_seconds(model, dataset, num_images: int = 20, warmup: int = 2,
                      device: torch.device | str = "cpu") -> float:
    """Mean wall-clock seconds of ``model(x)`` plus PEBAL's score for one image (batch 1),
    over the first ``num_images`` images after ``warmup`` untimed passes."""
    model.eval()
    n = min(num_images, len(dataset))
    if n == 0:
        raise ValueError("no image to time")
    images = [image_to_tensor(dataset[i]["image"]).unsqueeze(0).to(device) for i in range(n)]
    for x in images[:warmup]:
        model.anomaly_score(model(x))
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for x in images:
        model.anomaly_score(model(x))
    sync()
    return (time.perf_counter() - start) / n
