"""Pretraining of the small inlier segmentation model on the synthetic inlier split.

This trains the whole network (the shipped ``pebal/weights/deeplabv3plus_small.safetensors``);
PEBAL later fine-tunes only its ``final`` block (:mod:`pebal.training.finetune`). One process, CPU,
every random choice from the seeded generators of :class:`PretrainConfig`:

* data: the inlier ``train`` split held in memory as uint8 arrays, reshuffled each epoch;
* augmentation (:func:`augment_batch`): colour jitter, random scale, random crop / pad,
  horizontal flip;
* loss (:func:`segmentation_loss`): cross-entropy over the labelled pixels (255 ignored)
  with class weights ``w_c`` proportional to ``f_c ** -power`` (``f_c`` the train pixel
  frequency), normalised so that the mean weight per labelled pixel is 1, optionally
  averaged over only the hardest ``ohem_fraction`` of the pixels — so that thin classes
  (poles, persons) are learned instead of being drowned by road and sky;
* AdamW, linear warm-up then polynomial decay (power 0.9) over ``steps``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pebal.data.transforms import image_to_tensor
from pebal.metrics.segmentation import ConfusionMatrix
from pebal.labels import IGNORE_INDEX, NUM_CITYSCAPES_CLASSES
from pebal.paths import DEFAULT_BENCHMARK_VERSION, default_benchmark_root
from pebal.training.guards import check_finite_step


@dataclass
class PretrainConfig:
    """Everything that determines a pretraining run (saved into the checkpoint)."""

    data_root: str = field(default_factory=lambda: str(default_benchmark_root()))
    data_seed: int = 0
    data_version: str = DEFAULT_BENCHMARK_VERSION  # the embedded benchmark version generated at data_root if missing
    size: tuple[int, int] = (128, 256)
    output: str = "runs/pretrain/deeplabv3plus_small.safetensors"  # the shipped copy: pebal/weights/
    architecture: str = "deeplabv3plus_small"
    num_classes: int = NUM_CITYSCAPES_CLASSES
    model_kwargs: dict = field(default_factory=dict)
    seed: int = 0
    steps: int = 3000
    time_budget_s: float | None = None  # a safety stop; the schedule is defined by ``steps``
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    poly_power: float = 0.9
    scale_range: tuple[float, float] = (0.75, 1.5)
    crop_size: tuple[int, int] | None = None  # training crop (H, W); None = the scene size
    colour_jitter: float = 0.2
    class_weight_power: float = 0.5  # 0 = unweighted cross-entropy
    max_class_weight: float = 10.0
    ohem_fraction: float | None = None
    threads: int = 2
    eval_every: int = 500
    log_every: int = 50
    max_train_images: int | None = None
    max_val_images: int | None = None
    init_checkpoint: str | None = None  # start from these weights (a pebal safetensors file of the same architecture)

    def __post_init__(self):
        from pebal.config_validation import PRETRAIN_RELATIONS, PRETRAIN_RULES, validate_config

        validate_config(self, rules=PRETRAIN_RULES, relations=PRETRAIN_RELATIONS)


def load_split(dataset, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All items of a data set as ``(images (N, H, W, 3) uint8, labels (N, H, W) uint8)``."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise ValueError(f"data set {dataset!r} is empty")
    first = dataset[0]
    h, w = first["label"].shape
    images = np.empty((n, h, w, 3), dtype=np.uint8)
    labels = np.empty((n, h, w), dtype=np.uint8)
    for i in range(n):
        item = first if i == 0 else dataset[i]
        if item["image"].shape != (h, w, 3) or item["label"].shape != (h, w):
            raise ValueError(
                f"item {item.get('name', i)!r}: expected image ({h}, {w}, 3) and label ({h}, {w}) like "
                f"the first item, found {item['image'].shape} and {item['label'].shape}"
            )
        images[i], labels[i] = item["image"], item["label"]
    return images, labels


def class_weights(labels: np.ndarray, num_classes: int, power: float, max_weight: float) -> torch.Tensor:
    """(num_classes,) weights ``w_c ∝ f_c ** -power``, clipped at ``max_weight * min(w)``.

    ``f_c`` is the fraction of labelled pixels of class ``c``; weights are scaled so that
    ``sum_c f_c w_c = 1`` (the average pixel keeps weight 1). Absent classes get weight 1.
    """
    counts = np.bincount(labels[labels != IGNORE_INDEX].ravel(), minlength=num_classes)[:num_classes]
    freq = counts / max(counts.sum(), 1)
    weights = np.ones(num_classes, dtype=np.float64)
    present = freq > 0
    weights[present] = freq[present] ** -power
    weights[present] = np.minimum(weights[present], max_weight * weights[present].min())
    weights[present] /= (freq[present] * weights[present]).sum()
    return torch.tensor(weights, dtype=torch.float32)


def _jitter_colour(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation, each a factor in ``[1 - s, 1 + s]``."""
    if strength <= 0:
        return image
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    x = image.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * s
    mean = x.mean()
    x = ((x - mean) * c + mean) * b
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def augment_batch(
    images: np.ndarray, labels: np.ndarray, cfg: PretrainConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented, normalised batch: images (N, 3, h, w) float32, labels (N, h, w) int64.

    ``(h, w)`` is ``cfg.crop_size`` (default: the input size (H, W)). Each sample is
    colour-jittered, rescaled by ``s ~ U(scale_range)`` (bilinear for the image, nearest for
    the label), cropped or padded to (h, w) at a random offset (padding: zeros = the mean
    colour after normalisation, label 255), and flipped horizontally with probability 1/2.
    """
    n, in_h, in_w = labels.shape
    h, w = cfg.crop_size if cfg.crop_size is not None else (in_h, in_w)
    xs = torch.zeros(n, 3, h, w)
    ys = torch.full((n, h, w), IGNORE_INDEX, dtype=torch.int64)
    for i in range(n):
        x = image_to_tensor(_jitter_colour(images[i], cfg.colour_jitter, rng))[None]
        y = torch.from_numpy(labels[i].astype(np.int64))[None, None]
        scale = rng.uniform(*cfg.scale_range)
        sh, sw = max(1, round(in_h * scale)), max(1, round(in_w * scale))
        if (sh, sw) != (in_h, in_w):
            x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False, antialias=sh < in_h)
            y = F.interpolate(y.float(), size=(sh, sw), mode="nearest").long()
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        # source window (crop when larger) and destination offset (pad when smaller)
        oy, ox = int(rng.integers(0, abs(sh - h) + 1)), int(rng.integers(0, abs(sw - w) + 1))
        sy0, dy0 = (oy, 0) if sh >= h else (0, oy)
        sx0, dx0 = (ox, 0) if sw >= w else (0, ox)
        ch, cw = min(h, sh), min(w, sw)
        xs[i, :, dy0 : dy0 + ch, dx0 : dx0 + cw] = x[0, :, sy0 : sy0 + ch, sx0 : sx0 + cw]
        ys[i, dy0 : dy0 + ch, dx0 : dx0 + cw] = y[0, 0, sy0 : sy0 + ch, sx0 : sx0 + cw]
    return xs, ys


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None, ohem_fraction: float | None = None
) -> torch.Tensor:
    """Weighted cross-entropy over labelled pixels.

    Shape: logits (N, C, H, W) float, target (N, H, W) long with 255 = ignore.
    Without OHEM: ``sum_i w_{y_i} CE_i / sum_i w_{y_i}`` (PyTorch's weighted mean). With
    ``ohem_fraction = q``: the plain mean of the largest ``ceil(q * #labelled)`` values of
    ``w_{y_i} CE_i``.
    """
    if ohem_fraction is None:
        return F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE_INDEX)
    per_pixel = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE_INDEX, reduction="none")
    valid = per_pixel[target != IGNORE_INDEX]
    if valid.numel() == 0:
        return logits.sum() * 0.0
    k = max(1, math.ceil(ohem_fraction * valid.numel()))
    return valid.topk(k, sorted=False).values.mean()


def learning_rate(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up over ``warmup_steps`` then ``lr * (1 - t) ** poly_power``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * max(0.0, 1.0 - t) ** cfg.poly_power


@torch.no_grad()
def evaluate_confusion(
    network: torch.nn.Module, images: np.ndarray, labels: np.ndarray, num_classes: int, batch_size: int = 16
) -> np.ndarray:
    """Confusion matrix (C, C) of ``network``'s argmax over ``num_classes`` channels."""
    was_training = network.training
    network.eval()
    meter = ConfusionMatrix(num_classes)
    for start in range(0, len(images), batch_size):
        x = torch.stack([image_to_tensor(im) for im in images[start : start + batch_size]])
        pred = network(x)[:, :num_classes].argmax(dim=1)
        meter.update(pred, labels[start : start + batch_size])
    network.train(was_training)
    return meter.conf


def synthetic_data_source(root: str | os.PathLike | None = None) -> str:
    """A description of the synthetic data (its generator version) for cards and checkpoints: the
    version recorded in the manifest of the benchmark at ``root`` (e.g. "2" for benchmark v2),
    else the generator's default."""
    from pebal.data.synthetic import GENERATOR_VERSION

    version = GENERATOR_VERSION
    manifest = None if root is None else Path(root) / "manifest.json"
    if manifest is not None and manifest.is_file():
        version = str(json.loads(manifest.read_text()).get("version", GENERATOR_VERSION))
    return f"pebal.data.synthetic generator version {version}"


def open_synthetic_split(cfg: PretrainConfig, split: str):
    """The synthetic inlier ``split`` under ``cfg.data_root``, generated first if missing."""
    from pebal.data import open_dataset
    from pebal.data.synthetic import ensure_benchmark

    # at_least: a benchmark with more scenes (e.g. v2's 6,000 training scenes) is used as it is
    from pathlib import Path

    if not (Path(cfg.data_root) / "manifest.json").is_file():
        ensure_benchmark(cfg.data_root, seed=cfg.data_seed, size=tuple(cfg.size), at_least=True,
                         version=cfg.data_version)
    return open_dataset("synthetic-inlier", cfg.data_root, split=split)


def pretrain(
    cfg: PretrainConfig,
    log: Callable[[str], None] = print,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    data_source: str | None = None,
) -> dict:
    """Train, evaluate on val, save the checkpoint to ``cfg.output``; return a summary dict.

    ``data`` = ``(train_images, train_labels, val_images, val_labels)`` replaces the synthetic
    split (as returned by :func:`load_split`); ``data_source`` describes it in the summary and
    the checkpoint. The summary holds the config, steps done, training time, parameter count, per-class
    val IoU, mIoU and pixel accuracy, and the val confusion matrix.
    """
    from pebal.metrics.segmentation import iou_per_class, mean_iou, pixel_accuracy, present_classes
    from pebal.models import create_model, save_checkpoint

    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    if data is None:
        train_images, train_labels = load_split(open_synthetic_split(cfg, "train"), cfg.max_train_images)
        val_images, val_labels = load_split(open_synthetic_split(cfg, "val"), cfg.max_val_images)
        data_source = synthetic_data_source(cfg.data_root)
    else:
        train_images, train_labels, val_images, val_labels = data
        data_source = data_source or "arrays passed by the caller"
    log(f"train {len(train_images)} images, val {len(val_images)} images, {train_images.shape[1:3]}")
    weights = class_weights(train_labels, cfg.num_classes, cfg.class_weight_power, cfg.max_class_weight)
    network = create_model(cfg.architecture, num_classes=cfg.num_classes, generator=generator, **cfg.model_kwargs)
    if cfg.init_checkpoint is not None:
        from safetensors.torch import load_file

        network.load_state_dict(load_file(cfg.init_checkpoint))  # strict: same architecture and classes
        log(f"initialised from {cfg.init_checkpoint}")
    optimiser = torch.optim.AdamW(network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_params = sum(p.numel() for p in network.parameters())
    log(f"{cfg.architecture}: {n_params} parameters; class weights {[round(float(w), 2) for w in weights]}")

    network.train()
    order, cursor, history = rng.permutation(len(train_images)), 0, []
    start, running, steps_done = time.perf_counter(), 0.0, 0
    for step in range(cfg.steps):
        if cursor + cfg.batch_size > len(order):
            order, cursor = rng.permutation(len(train_images)), 0
        idx = np.sort(order[cursor : cursor + cfg.batch_size])
        cursor += cfg.batch_size
        x, y = augment_batch(train_images[idx], train_labels[idx], cfg, rng)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, cfg)
        loss = segmentation_loss(network(x), y, weights, cfg.ohem_fraction)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        check_finite_step(loss, {}, network.parameters(), step + 1, None, learning_rate(step, cfg))
        optimiser.step()
        running += float(loss.detach())
        steps_done = step + 1
        elapsed = time.perf_counter() - start
        if steps_done % cfg.log_every == 0:
            log(f"step {steps_done}/{cfg.steps} loss {running / cfg.log_every:.4f} "
                f"lr {learning_rate(step, cfg):.2e} {steps_done * cfg.batch_size / elapsed:.1f} img/s {elapsed:.0f}s")
            running = 0.0
        if cfg.eval_every and steps_done % cfg.eval_every == 0 and steps_done < cfg.steps:
            miou = mean_iou(evaluate_confusion(network, val_images, val_labels, cfg.num_classes))
            history.append({"step": steps_done, "seconds": round(elapsed, 1), "val_miou": miou})
            log(f"step {steps_done}: val mIoU {miou:.4f}")
        if cfg.time_budget_s is not None and elapsed > cfg.time_budget_s:
            log(f"time budget {cfg.time_budget_s}s reached after {steps_done} steps")
            break
    training_time = time.perf_counter() - start

    conf = evaluate_confusion(network, val_images, val_labels, cfg.num_classes)
    iou = iou_per_class(conf)
    classes = present_classes(conf)
    summary = {
        "config": dataclasses.asdict(cfg),
        "steps_done": steps_done,
        "training_time_s": round(training_time, 1),
        "parameters": n_params,
        "data_source": data_source,
        "train_images": len(train_images),
        "val_images": len(val_images),
        "val_classes": classes,
        "val_iou": {int(c): float(iou[c]) for c in classes},
        "val_miou": mean_iou(conf),
        "val_pixel_accuracy": pixel_accuracy(conf),
        "val_confusion": conf.tolist(),
        "history": history,
    }
    log(f"val mIoU {summary['val_miou']:.4f} over {len(classes)} classes, pixel accuracy "
        f"{summary['val_pixel_accuracy']:.4f}, {training_time:.0f}s")
    save_checkpoint(
        cfg.output,
        network,
        architecture=cfg.architecture,
        num_classes=cfg.num_classes,
        abstention=False,
        model_kwargs=cfg.model_kwargs,
        config=summary["config"],
        seed=cfg.seed,
        steps=steps_done,
        training_time_s=summary["training_time_s"],
        val_miou=summary["val_miou"],
        val_iou=summary["val_iou"],
        data_source=data_source,
    )
    return summary
