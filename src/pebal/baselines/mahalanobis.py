"""Mahalanobis distance on penultimate features (Lee et al., NeurIPS 2018), per pixel.

Class-conditional Gaussians with one shared covariance, fitted on the input features of the
classifier (the last 1x1 conv of ``final``) at inlier training pixels::

    mu_c  = mean of the features of the pixels labelled c
    Sigma = (1 / P) sum_c sum_{i in c} (x_i - mu_c)(x_i - mu_c)^T       (pooled, biased)
    score(x) = min_c (x - mu_c)^T Sigma^-1 (x - mu_c)                   (higher = more anomalous)

The score is the *squared* distance (a monotone transform of the distance, so every ranking
metric is unchanged). Features are read with a forward hook on the classifier conv found by
:func:`pebal.model.find_classifier_conv`, so any :class:`~pebal.model.PEBALModel` works; they
are at the classifier's resolution and are resized bilinearly to the image size before the
labels (fitting) or the score (testing) are read. Classes are assigned by the training
labels (not the prediction); ``pixels_per_image`` pixels are drawn per image with a seeded
generator. ``Sigma^-1`` is the pseudo-inverse of ``Sigma + ridge * mean(diag Sigma) * I``:
dead ReLU channels make ``Sigma`` singular. Omitted from the paper's method: input
pre-processing and the feature ensemble over layers.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pebal.baselines.sml import dataset_id
from pebal.labels import IGNORE_INDEX

METADATA_KEY = "mahalanobis"


@contextmanager
def classifier_features(model):
    """Collect the classifier conv's input during ``model(x)``: yields a list that holds the
    features (N, D, h, w) of the last forward pass as its only element."""
    from pebal.model import find_classifier_conv

    _, _, conv = find_classifier_conv(model.final, model.num_classes + 1)
    store: list[torch.Tensor] = []

    def hook(_module, inputs):
        store[:] = [inputs[0].detach()]

    handle = conv.register_forward_pre_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def resize_features(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, D, h, w) -> (N, D, H, W), bilinear (half-pixel centres)."""
    if tuple(features.shape[2:]) == tuple(size):
        return features
    return F.interpolate(features.float(), size=tuple(size), mode="bilinear", align_corners=False)


def fit_gaussians(features: torch.Tensor, labels: torch.Tensor, num_classes: int, ridge: float = 0.0):
    """Class means (Y, D) and pooled precision (D, D), float64, of pixel ``features`` (P, D)
    with class ``labels`` (P,) in ``0..Y-1`` (the pure form of :func:`fit_mahalanobis`).

    A class without pixels gets a mean of NaN and is skipped when scoring.
    """
    stats = GaussianSums.empty(features.shape[1], num_classes)
    stats.add(features, labels)
    return stats.finish(ridge)


@dataclass
class GaussianSums:
    """Running sums for the class means and the pooled covariance (float64)."""

    count: torch.Tensor  # (Y,)
    total: torch.Tensor  # (Y, D)
    outer: torch.Tensor  # (D, D): sum of x x^T

    @classmethod
    def empty(cls, dim: int, num_classes: int) -> GaussianSums:
        return cls(torch.zeros(num_classes, dtype=torch.float64), torch.zeros(num_classes, dim, dtype=torch.float64),
                   torch.zeros(dim, dim, dtype=torch.float64))

    def add(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        x = features.double().cpu()
        y = labels.long().cpu()
        if x.dim() != 2 or y.shape != x.shape[:1]:
            raise ValueError(f"expected features (P, D) and labels (P,), got {tuple(x.shape)} and {tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.count.numel()):
            raise ValueError(f"labels must lie in 0..{self.count.numel() - 1}, found {int(y.min())}..{int(y.max())}")
        self.count.index_add_(0, y, torch.ones_like(y, dtype=torch.float64))
        self.total.index_add_(0, y, x)
        self.outer += x.T @ x

    def finish(self, ridge: float = 0.0) -> MahalanobisStatistics:
        n = self.count.sum()
        if n < 2:
            raise ValueError(f"Mahalanobis needs at least 2 labelled pixels, got {int(n)}")
        means = self.total / self.count.clamp_min(1)[:, None]
        # sum_c sum_i (x - mu_c)(x - mu_c)^T = sum x x^T - sum_c n_c mu_c mu_c^T
        cov = (self.outer - (means * self.count[:, None]).T @ means) / n
        cov = (cov + cov.T) / 2
        if ridge > 0:
            cov = cov + ridge * cov.diagonal().mean() * torch.eye(cov.shape[0], dtype=cov.dtype)
        precision = torch.linalg.pinv(cov, hermitian=True)
        means = torch.where(self.count[:, None] > 0, means, torch.full_like(means, float("nan")))
        return MahalanobisStatistics(means=means, precision=precision, count=self.count.long())


@dataclass
class MahalanobisStatistics:
    """Class means (Y, D), shared precision matrix (D, D) (float64), pixels per class (Y,)."""

    means: torch.Tensor
    precision: torch.Tensor
    count: torch.Tensor

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distance to every fitted class: (N, D, H, W) -> (N, Y', H, W),
        Y' the classes with pixels."""
        n, d, h, w = features.shape
        if d != self.precision.shape[0]:
            raise ValueError(f"features have {d} channels, the statistics {self.precision.shape[0]}")
        keep = ~torch.isnan(self.means[:, 0])
        mu = self.means[keep].to(features.device, torch.float64)
        p = self.precision.to(features.device, torch.float64)
        x = features.double().permute(0, 2, 3, 1).reshape(-1, d)
        # (x - mu)^T P (x - mu) = x^T P x - 2 x^T P mu + mu^T P mu, for all classes at once
        xp = x @ p
        dist = (xp * x).sum(1, keepdim=True) - 2 * xp @ mu.T + ((mu @ p) * mu).sum(1)[None]
        return dist.reshape(n, h, w, -1).permute(0, 3, 1, 2)

    def score(self, features: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """``min_c`` squared distance, (N, D, h, w) -> (N, H, W) float32; ``size`` = (H, W) resizes
        the features first."""
        if size is not None:
            features = resize_features(features, size)
        return self.distances(features).amin(dim=1).float()

    def to_json(self) -> dict:
        means = [[None if v != v else v for v in row] for row in self.means.tolist()]  # NaN -> null
        return {"means": means, "precision": self.precision.tolist(), "count": self.count.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> MahalanobisStatistics:
        means = [[float("nan") if v is None else v for v in row] for row in data["means"]]
        return cls(means=torch.tensor(means, dtype=torch.float64),
                   precision=torch.tensor(data["precision"], dtype=torch.float64),
                   count=torch.tensor(data["count"], dtype=torch.int64))


@torch.no_grad()
def fit_mahalanobis(model, dataset, pixels_per_image: int = 1000, seed: int = 0, max_images: int | None = None,
                    batch_size: int = 8, ridge: float = 1e-6, device: torch.device | str = "cpu",
                    ignore_index: int = IGNORE_INDEX) -> MahalanobisStatistics:
    """Fit on up to ``pixels_per_image`` labelled pixels (train ids ``0..Y-1``) per image of the
    first ``max_images`` images of ``dataset``, drawn by ``torch.Generator().manual_seed(seed)``."""
    from pebal.data.transforms import image_to_tensor
    from pebal.data.batching import batches

    model.eval()
    y = model.num_classes
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    if n == 0:
        raise ValueError(f"cannot fit Mahalanobis statistics on an empty data set ({dataset!r})")
    generator = torch.Generator().manual_seed(seed)
    sums = None
    with classifier_features(model) as store:
        for batch in batches(dataset, batch_size, range(n)):
            x = torch.stack([image_to_tensor(item["image"]) for item in batch]).to(device)
            model(x)
            feats = resize_features(store[0], x.shape[2:])
            if sums is None:
                sums = GaussianSums.empty(feats.shape[1], y)
            for i, item in enumerate(batch):
                label = torch.as_tensor(item["label"]).long().reshape(-1)
                valid = torch.nonzero((label >= 0) & (label < y) & (label != ignore_index)).squeeze(1)
                if valid.numel() > pixels_per_image:
                    valid = valid[torch.randperm(valid.numel(), generator=generator)[:pixels_per_image]]
                pixel_feats = feats[i].reshape(feats.shape[1], -1)[:, valid.to(feats.device)].T
                sums.add(pixel_feats, label[valid])
    return sums.finish(ridge)


def load_or_fit_mahalanobis(model, dataset, checkpoint=None, pixels_per_image: int = 1000, seed: int = 0,
                            max_images: int | None = None, batch_size: int = 8, ridge: float = 1e-6,
                            device: torch.device | str = "cpu") -> MahalanobisStatistics:
    """Reuse ``model.metadata["mahalanobis"]`` when fitted with the same settings, else fit and,
    when ``checkpoint`` is given, store the statistics in its metadata (JSON lists: Y*D + D*D
    numbers, ~0.2 MB for D = 48 and ~1.5 MB for D = 256, well inside safetensors' header limit)."""
    settings = {"pixels_per_image": pixels_per_image, "seed": seed, "max_images": max_images, "ridge": ridge,
                "dataset": dataset_id(dataset)}
    stored = getattr(model, "metadata", {}).get(METADATA_KEY)
    if stored is not None and stored.get("settings") == settings:
        return MahalanobisStatistics.from_json(stored)
    stats = fit_mahalanobis(model, dataset, pixels_per_image=pixels_per_image, seed=seed, max_images=max_images,
                            batch_size=batch_size, ridge=ridge, device=device)
    if checkpoint is not None:
        from pebal.models.checkpoint import update_metadata

        model.metadata = update_metadata(checkpoint, **{METADATA_KEY: {**stats.to_json(), "settings": settings}})
    return stats
