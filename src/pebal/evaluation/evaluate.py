"""One pass over a data set: every model's logits once, every scorer on them, streaming metrics.

``methods`` maps a method name to ``(model_key, score_name)``: e.g. PEBAL's energy on the
fine-tuned model and MSP / Max Logit / Entropy / Energy on the pretrained one. Each model
runs once per batch, whatever the number of scores read from its logits, and models that
differ only in their final block share one trunk pass (:mod:`pebal.evaluation.shared_trunk`;
the logits are bitwise those of separate passes). Metrics are
accumulated per image (exact, bounded memory: see :mod:`pebal.metrics`), so no pixel pool
is ever held. Under ``torchrun`` each process evaluates every ``world``-th image and the
exact states are merged, giving the single-process numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from pebal.data.batching import batches
from pebal.data.transforms import image_to_tensor
from pebal.evaluation.shared_trunk import SharedForward
from pebal.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, present_classes
from pebal.labels import CITYSCAPES_CLASSES
from pebal.metrics import AnomalyMetrics
from pebal.scores import get_score

#: The post-hoc baselines, read from the pretrained model, and PEBAL, from the fine-tuned one.
DEFAULT_METHODS = {
    "pebal": ("finetuned", "pebal"),
    "msp": ("pretrained", "msp"),
    "max_logit": ("pretrained", "max_logit"),
    "entropy": ("pretrained", "entropy"),
    "energy": ("pretrained", "energy"),
}


def _shard() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, dynamic_ncols=True, leave=False)


@torch.no_grad()
def evaluate_anomaly(
    dataset,
    models: dict[str, torch.nn.Module],
    num_classes: int,
    methods: dict[str, tuple[str, str]] | None = None,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "evaluate",
    curves: bool = False,
    per_image: dict | None = None,
) -> dict[str, dict]:
    """Pixel metrics of every method on an anomaly data set (labels 0 / 1 / 255).

    Returns ``{method: {"auroc", "ap", "fpr95", ...}}``; with ``curves=True`` each entry also
    holds ``"curves"``: the ROC and PR curves, decimated for plotting. ``per_image``: optional
    ``{method: state}`` whose ``update(scores, labels)`` is fed the same score maps (e.g.
    :class:`pebal.experiments.PerImageCounts`, for paired comparisons); under torchrun each
    process feeds its shard and then calls the state's ``gather_strided_shards()``.
    """
    methods = dict(DEFAULT_METHODS if methods is None else methods)
    for name, (model_key, score_name) in methods.items():
        if model_key not in models:
            raise ValueError(f"method {name!r} needs model {model_key!r}; models given: {', '.join(models)}")
        get_score(score_name)
    needed = sorted({key for key, _ in methods.values()})
    for key in needed:
        models[key].eval()
    forward = SharedForward({key: models[key] for key in needed})
    rank, world = _shard()
    states = {name: AnomalyMetrics() for name in methods}
    bar = _progress(len(dataset), desc, progress and rank == 0)
    for batch in batches(dataset, batch_size, range(rank, len(dataset), world)):
        x = torch.stack([image_to_tensor(item["image"]) for item in batch]).to(device)
        labels = np.stack([item["label"] for item in batch])
        logits = forward(x)
        for name, (model_key, score_name) in methods.items():
            scores = get_score(score_name)(logits[model_key], num_classes).cpu().numpy()
            states[name].update(scores, labels)
            if per_image is not None and name in per_image:
                per_image[name].update(scores, labels)
        bar.update(len(batch) * world)
    bar.close()
    if per_image is not None and world > 1:
        for state in per_image.values():  # every image, in data-set order, on every process
            state.gather_strided_shards()
    results = {}
    for name, state in states.items():
        results[name] = state.compute()  # merges the processes' exact states under torchrun
        if curves:
            results[name]["curves"] = state.curves()
    return results


@torch.no_grad()
def evaluate_segmentation(
    dataset,
    models: dict[str, torch.nn.Module],
    num_classes: int,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    progress: bool = True,
    class_names: tuple[str, ...] = CITYSCAPES_CLASSES,
) -> dict[str, dict]:
    """Inlier mIoU (over the classes present in the labels) and per-class IoU of each model."""
    rank, world = _shard()
    conf = {key: np.zeros((num_classes, num_classes), dtype=np.int64) for key in models}
    for model in models.values():
        model.eval()
    forward = SharedForward(models)
    bar = _progress(len(dataset), "segmentation", progress and rank == 0)
    for batch in batches(dataset, batch_size, range(rank, len(dataset), world)):
        x = torch.stack([image_to_tensor(item["image"]) for item in batch]).to(device)
        labels = np.stack([item["label"] for item in batch])
        for key, logits in forward(x).items():
            pred = logits[:, :num_classes].argmax(dim=1).cpu().numpy()
            conf[key] += confusion_matrix(pred, labels, num_classes)
        bar.update(len(batch) * world)
    bar.close()
    results = {}
    for key, matrix in conf.items():
        if world > 1:
            t = torch.from_numpy(matrix).to(device)  # NCCL reduces CUDA tensors only
            dist.all_reduce(t)
            matrix = t.cpu().numpy()
        iou = iou_per_class(matrix)
        classes = present_classes(matrix)
        results[key] = {
            "miou": float(mean_iou(matrix, classes)),
            "iou": {class_names[c] if c < len(class_names) else str(c): float(iou[c]) for c in classes},
        }
    return results
