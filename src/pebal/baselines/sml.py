"""Standardised max logits (SML; Jung et al., "Standardized Max Logits", ICCV 2021).

For each inlier class c, the mean ``mu_c`` and standard deviation ``sigma_c`` of the max
logit over the training pixels *predicted* as c; at test time, with ``c = argmax_k f_k``::

    SML(x) = (max_k f_k(x) - mu_c) / sigma_c        score = -SML(x)   (higher = more anomalous)

Only the standardisation is implemented (the paper's iterative boundary suppression and
dilated smoothing are not). Void pixels (label 255) of the training images are left out;
pixels are not sub-sampled (the sums are exact and cheap). A class never predicted (or
predicted at a single pixel) falls back to the statistics over all pixels, so its score
stays finite; ``count`` records how many pixels each class's statistics rest on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pebal.labels import IGNORE_INDEX

METADATA_KEY = "sml"


def _check_logits(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    if logits.dim() != 4 or logits.shape[1] < num_classes:
        raise ValueError(f"logits must be (N, C>={num_classes}, H, W), got {tuple(logits.shape)}")
    return logits[:, :num_classes].float()


def sml_sums(logits: torch.Tensor, num_classes: int, labels: torch.Tensor | None = None,
             ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per predicted class: (count, sum of max logit, sum of squared max logit), float64 (3, Y).

    ``logits`` (N, C>=Y, H, W); ``labels`` (N, H, W) or None: pixels labelled ``ignore_index``
    are skipped.
    """
    inlier = _check_logits(logits, num_classes)
    top, pred = inlier.max(dim=1)
    top, pred = top.double(), pred
    if labels is not None:
        if labels.shape != top.shape:
            raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(logits.shape)}")
        keep = labels != ignore_index
        top, pred = top[keep], pred[keep]
    top, pred = top.reshape(-1), pred.reshape(-1)
    out = top.new_zeros(3, num_classes)
    out[0].index_add_(0, pred, torch.ones_like(top))
    out[1].index_add_(0, pred, top)
    out[2].index_add_(0, pred, top * top)
    return out


@dataclass
class SMLStatistics:
    """Per-class max-logit mean and (population) standard deviation.

    Shapes: ``mean``, ``std``, ``count`` (Y,) float64 / float64 / int64.
    """

    mean: torch.Tensor
    std: torch.Tensor
    count: torch.Tensor

    @property
    def num_classes(self) -> int:
        return int(self.mean.numel())

    @classmethod
    def from_sums(cls, sums: torch.Tensor) -> SMLStatistics:
        """From the (3, Y) sums of :func:`sml_sums` (added over batches)."""
        count, total, squares = sums.double()
        if count.sum() < 2:
            raise ValueError(f"SML needs at least 2 evaluated training pixels, got {int(count.sum())}")
        all_mean = total.sum() / count.sum()
        all_var = (squares.sum() / count.sum() - all_mean**2).clamp_min(0)
        ok = count >= 2
        mean = torch.where(ok, total / count.clamp_min(1), all_mean)
        var = torch.where(ok, squares / count.clamp_min(1) - mean**2, all_var).clamp_min(0)
        # a constant max logit within a class (var 0) must not divide by zero
        std = var.sqrt().clamp_min(1e-6)
        return cls(mean=mean, std=std, count=count.long())

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """``-(max_k f_k - mu_c) / sigma_c`` at the predicted class c: (N, C, H, W) -> (N, H, W) float32."""
        inlier = _check_logits(logits, self.num_classes)
        top, pred = inlier.max(dim=1)
        mean = self.mean.to(device=top.device, dtype=top.dtype)[pred]
        std = self.std.to(device=top.device, dtype=top.dtype)[pred]
        return (-(top - mean) / std).float()

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> SMLStatistics:
        return cls(mean=torch.tensor(data["mean"], dtype=torch.float64),
                   std=torch.tensor(data["std"], dtype=torch.float64),
                   count=torch.tensor(data["count"], dtype=torch.int64))


def sml_statistics(logits: torch.Tensor, num_classes: int, labels: torch.Tensor | None = None) -> SMLStatistics:
    """Statistics of one tensor of logits (N, C, H, W) (the pure form of :func:`fit_sml`)."""
    return SMLStatistics.from_sums(sml_sums(logits, num_classes, labels))


@torch.no_grad()
def fit_sml(model, dataset, max_images: int | None = None, batch_size: int = 8,
            device: torch.device | str = "cpu") -> SMLStatistics:
    """Fit SML on the first ``max_images`` images of an inlier training ``dataset``
    (items with ``image`` (H, W, 3) uint8 and ``label`` (H, W) train ids / 255)."""
    from pebal.data.transforms import image_to_tensor
    from pebal.data.batching import batches

    model.eval()
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    if n == 0:
        raise ValueError(f"cannot fit SML on an empty data set ({dataset!r})")
    sums = None
    for batch in batches(dataset, batch_size, range(n)):
        x = torch.stack([image_to_tensor(item["image"]) for item in batch]).to(device)
        labels = torch.stack([torch.as_tensor(item["label"]).long() for item in batch]).to(device)
        part = sml_sums(model(x), model.num_classes, labels).cpu()
        sums = part if sums is None else sums + part
    return SMLStatistics.from_sums(sums)


def dataset_id(dataset) -> str:
    """A description of a data set that identifies it across processes (class, root, size)."""
    return f"{type(dataset).__name__}:{getattr(dataset, 'root', '')}:{len(dataset)}"


def load_or_fit_sml(model, dataset, checkpoint=None, max_images: int | None = None, batch_size: int = 8,
                    device: torch.device | str = "cpu") -> SMLStatistics:
    """The statistics stored in ``model.metadata["sml"]`` if they were fitted with the same
    ``max_images``; otherwise fit them and, when ``checkpoint`` (the model's file) is given,
    store them in its metadata for the next call."""
    settings = {"max_images": max_images, "dataset": dataset_id(dataset)}
    stored = getattr(model, "metadata", {}).get(METADATA_KEY)
    if stored is not None and stored.get("settings") == settings:
        return SMLStatistics.from_json(stored)
    stats = fit_sml(model, dataset, max_images=max_images, batch_size=batch_size, device=device)
    entry = {**stats.to_json(), "settings": settings}
    if checkpoint is not None:
        from pebal.models.checkpoint import update_metadata

        model.metadata = update_metadata(checkpoint, **{METADATA_KEY: entry})
    return stats
