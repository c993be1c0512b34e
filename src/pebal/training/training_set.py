"""The fine-tuning data set: inlier training images, AnomalyMix, augmentation.

Built from :class:`pebal.config.DataConfig`. The outlier-exposure pool is the embedded
benchmark's family by default, or Meta-OoD masks, COCO (pycocotools) or a folder of RGBA
cut-outs; seeded subsets by class fraction and sample fraction reproduce Tables 6-7.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pebal.config import TrainConfig
from pebal.data.anomalymix import AnomalyMix
from pebal.data.augment import SegmentationAugment, check_batchable
from pebal.data.mixed import MixedDataset
from pebal.data.registry import open_dataset

OUTLIER_SOURCES = ("embedded", "meta-ood", "coco", "rgba-folder")


class _FirstN:
    """The first ``n`` items of a data set."""

    def __init__(self, base, n: int) -> None:
        self.base, self.n = base, min(int(n), len(base))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.n:
            raise IndexError(index)
        return self.base[index]


def ensure_embedded_data(cfg: TrainConfig) -> None:
    """Generate the embedded benchmark (the config's version, its published counts) when training on it and
    it is absent; an existing benchmark folder is used as it is, whatever its counts (one of another
    version was refused by :func:`pebal.training.paths.require_paths`, which every run calls first)."""
    if cfg.data.dataset.startswith("synthetic") and not (Path(cfg.data.root) / "manifest.json").is_file():
        from pebal.data.synthetic import ensure_benchmark

        ensure_benchmark(cfg.data.root, seed=cfg.data.benchmark_seed, size=tuple(cfg.data.size),
                         version=cfg.data.benchmark_version)


def build_outlier_source(cfg: TrainConfig):
    """The outlier-exposure pool with the configured class / sample fraction subsets."""
    from pebal.data import outliers

    d = cfg.data
    kind = d.outlier_source
    if kind not in OUTLIER_SOURCES:
        raise ValueError(f"unknown outlier source {kind!r}; valid: {', '.join(OUTLIER_SOURCES)}")
    if kind == "embedded":
        source = outliers.MaskFolderSource.embedded(d.outlier_root or d.root)
    elif d.outlier_root is None:
        raise ValueError(f"outlier source {kind!r} needs data.outlier_root (the folder that holds it)")
    elif kind == "meta-ood":
        source = outliers.MaskFolderSource.meta_ood(d.outlier_root)
    elif kind == "coco":
        source = outliers.CocoOutlierSource(d.outlier_root)
    else:
        source = outliers.RgbaFolderSource(d.outlier_root)
    rng = np.random.default_rng(np.random.SeedSequence([3, cfg.seed]))
    if d.outlier_class_fraction < 1.0:
        source = outliers.subset_by_class_fraction(source, d.outlier_class_fraction, rng)
    if d.outlier_sample_fraction < 1.0:
        source = outliers.subset_by_sample_fraction(source, d.outlier_sample_fraction, rng)
    return source


def extra_mixed_count(fraction: float, inlier_images: int) -> int:
    """Always-mixed samples added to each epoch: ``floor(fraction * inlier_images)`` as the
    reference computes it (0.1 x 2975 = 297), at least one when ``fraction > 0`` so that a
    small training set still sees outliers."""
    if fraction < 0:
        raise ValueError(f"data.extra_mixed_fraction must be >= 0, got {fraction}")
    return max(1, int(fraction * inlier_images)) if fraction > 0 else 0


def build_augment(cfg: TrainConfig) -> SegmentationAugment:
    """The random scale / crop / flip of ``cfg.data``, checked against the batch size."""
    d = cfg.data
    augment = SegmentationAugment(d.flip_probability, d.scales, d.crop, scale_range=d.scale_range)
    check_batchable(augment, cfg.optim.batch_size)
    return augment


def build_training_set(cfg: TrainConfig) -> MixedDataset:
    """Inlier training images with AnomalyMix then augmentation, reproducible per (seed, epoch, index).

    An epoch holds the inlier images (each mixed with ``data.mix_probability``) and then
    ``extra_mixed_count(data.extra_mixed_fraction, inlier images)`` samples that each paste one
    outlier object onto a random inlier image (the reference's scheme)."""
    d = cfg.data
    augment = build_augment(cfg)
    ensure_embedded_data(cfg)
    base = open_dataset(d.dataset, d.root, split=d.split)
    if d.max_images is not None:
        base = _FirstN(base, d.max_images)
    mix = AnomalyMix(
        build_outlier_source(cfg),
        probability=d.mix_probability,
        scale_range=d.mix_scale_range,
        placement=d.mix_placement,
    )
    return MixedDataset(base, mix, seed=cfg.seed, transform=augment,
                        extra_mixed=extra_mixed_count(d.extra_mixed_fraction, len(base)))
