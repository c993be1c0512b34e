"""Post-hoc baselines that need statistics of the training data (paper Table 1).

* :mod:`.sml` — standardised max logits (Jung et al., ICCV 2021).
* :mod:`.mahalanobis` — class-conditional Gaussians with a shared covariance on the
  penultimate features (Lee et al., NeurIPS 2018).

Each has a small statistics object (``score(...)`` returns (N, H, W), higher = more
anomalous), a ``fit_*(model, dataset, ...)`` that estimates it on inlier training images,
and ``load_or_fit_*`` that reuses the statistics stored in a checkpoint's metadata (keys
``"sml"`` / ``"mahalanobis"``, JSON lists) when they were fitted with the same settings.
"""

from pebal.baselines.mahalanobis import (
    MahalanobisStatistics,
    classifier_features,
    fit_gaussians,
    fit_mahalanobis,
    load_or_fit_mahalanobis,
)
from pebal.baselines.sml import SMLStatistics, fit_sml, load_or_fit_sml, sml_statistics

__all__ = [
    "MahalanobisStatistics",
    "SMLStatistics",
    "classifier_features",
    "fit_gaussians",
    "fit_mahalanobis",
    "fit_sml",
    "load_or_fit_mahalanobis",
    "load_or_fit_sml",
    "sml_statistics",
]
