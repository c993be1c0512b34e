"""The PEBAL loss as the public reference implementation computes it.

Per batch (logits (N, Y+1, H, W), target (N, H, W) with train ids, 254, 255)::

    total = PAL on images without an outlier pixel
          + PAL on images with at least one outlier pixel
          + 0.1 * energy_term (whole batch)

* images without outliers: ``-mean_{inlier px} log(p[y] + p[Y]/a~)``
* images with outliers: ``-( mean_{inlier px} log(p[y] + p[Y]/a~)
  + 0.1 * mean_{outlier px x Y inlier classes} log(max(p[c] + p[Y]/a~, 1e-7)) )``
* ``a~`` = Gaussian-blurred ``(-E)^2`` (7x7, sigma 1, reflect), not detached, not clamped.
* ``energy_term = mean(hinge_in)`` without outlier pixels, else
  ``0.5 * (mean(hinge_in) + mean(hinge_out)) + 5e-4 * ||E_out||_2``; always
  ``+ 3e-6 * smoothness_squared_sum(E)`` (summed over the batch, void included).

Each PAL term is its own mean. The returned parts are named for the pixels they hold, as in
the paper variant: ``pal_in`` = both inlier-pixel means (images without and with outliers),
``pal_out`` = the weighted outlier-pixel mean; the total is the reference's. Terms whose pixel
set is empty are zero here (the reference would produce NaN). The ablation switches replace or drop terms (see :class:`PEBALLoss`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pebal.energy import inlier_energy
from pebal.losses.energy_terms import (
    inlier_hinge,
    mean_or_zero,
    outlier_hinge,
    smoothness_squared_sum,
)
from pebal.losses.pal import inlier_nll, pal_log_likelihood


def reference_loss(logits, target, masks, cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Compute the reference formulation; ``masks`` = (inlier, outlier) bool (N, H, W)."""
    inlier, outlier = masks
    y = cfg.num_classes
    log_probs = F.log_softmax(logits, dim=1)
    energy = inlier_energy(logits, y)
    has_outlier = outlier.flatten(1).any(dim=1)
    clean = ~has_outlier
    zero = logits.sum() * 0.0
    parts: dict[str, torch.Tensor] = {}

    if cfg.pal:
        log_lik, log_res = pal_log_likelihood(log_probs, energy, target, inlier, cfg)
        clean_inlier = -mean_or_zero(log_lik[clean][inlier[clean]], logits) if clean.any() else zero
        if has_outlier.any():
            mixed_inlier = -mean_or_zero(log_lik[has_outlier][inlier[has_outlier]], logits)
            # (P, Y): every inlier class at every outlier pixel
            at_outliers = torch.logaddexp(
                log_probs.permute(0, 2, 3, 1)[outlier][:, :y], log_res[outlier].unsqueeze(1)
            )
            at_outliers = at_outliers.clamp_min(math.log(cfg.outlier_clamp))
            parts["pal_in"] = clean_inlier + mixed_inlier
            parts["pal_out"] = -cfg.outlier_pal_weight * at_outliers.mean()
        else:
            parts["pal_in"] = clean_inlier
            parts["pal_out"] = zero
    else:
        # without PAL the inlier classes are still trained: cross-entropy over the Y channels
        parts["cross_entropy"] = mean_or_zero(inlier_nll(logits, target, inlier, y), logits)

    w = cfg.energy_weight
    e_in, e_out = energy[inlier], energy[outlier]
    if cfg.energy:
        hinge_in = mean_or_zero(inlier_hinge(e_in, cfg.m_in), logits)
        if e_out.numel() == 0:
            parts["hinge_in"] = w * hinge_in
            parts["hinge_out"] = zero
        else:
            parts["hinge_in"] = w * 0.5 * hinge_in
            parts["hinge_out"] = w * 0.5 * outlier_hinge(e_out, cfg.m_out).mean()
    if cfg.regularizers:
        sparsity = e_out.norm(p=2) if e_out.numel() > 0 else zero
        parts["sparsity"] = w * cfg.sparsity_weight * sparsity
        parts["smoothness"] = w * cfg.smoothness_weight * smoothness_squared_sum(energy)

    total = torch.stack(list(parts.values())).sum()
    return total, parts
