"""The PEBAL loss as the paper writes it (eqs. 3, 6, 7, 8), normalised per valid pixel.

Per pixel ``w`` with inlier energy ``E_w`` and penalty ``a_w = E_w^2`` (not smoothed)::

    inlier  pixel: -log(p[y] + p[Y]/a)            + lambda * max(0, E - m_in)^2
    outlier pixel: -sum_{c=0..Y} log(p[c] + p[Y]/a) + lambda * max(0, m_out - E)^2
    every valid pixel:  beta2 * |E|   (sparsity)
    every pair of valid horizontal/vertical neighbours: beta1 * |E_w - E_N(w)|  (smoothness)

The paper sums over pixels; here the sum is divided by the number of valid (non-void)
pixels in the batch, so the loss scale does not depend on the resolution or the batch
size and the learning rate transfers between crop sizes. The outlier PAL term sums over all
Y+1 classes as the footnote of eq. 3 says (the reference averages over the Y inlier ones).
Weights: lambda = 0.1, beta1 = 5e-4 (smoothness), beta2 = 3e-6 (sparsity), m_in = -12,
m_out = -6 (paper §4.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pebal.energy import inlier_energy
from pebal.losses.energy_terms import inlier_hinge, outlier_hinge, smoothness_abs_sum
from pebal.losses.pal import inlier_nll, pal_log_likelihood


def paper_loss(logits, target, masks, cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Compute the paper formulation; ``masks`` = (inlier, outlier) bool (N, H, W)."""
    inlier, outlier = masks
    valid = inlier | outlier
    n_valid = valid.sum().clamp_min(1).to(logits.dtype)
    y = cfg.num_classes
    log_probs = F.log_softmax(logits, dim=1)
    energy = inlier_energy(logits, y)
    zero = logits.sum() * 0.0
    parts: dict[str, torch.Tensor] = {}

    if cfg.pal:
        log_lik, log_res = pal_log_likelihood(log_probs, energy, target, inlier, cfg)
        parts["pal_in"] = -log_lik[inlier].sum() / n_valid
        if outlier.any():
            # (P, Y+1): every class, the abstention channel included, at every outlier pixel
            at_outliers = torch.logaddexp(log_probs.permute(0, 2, 3, 1)[outlier], log_res[outlier].unsqueeze(1))
            parts["pal_out"] = -at_outliers.sum() / n_valid
        else:
            parts["pal_out"] = zero
    else:
        parts["cross_entropy"] = inlier_nll(logits, target, inlier, y).sum() / n_valid

    if cfg.energy:
        parts["hinge_in"] = cfg.energy_weight * inlier_hinge(energy[inlier], cfg.m_in).sum() / n_valid
        parts["hinge_out"] = cfg.energy_weight * outlier_hinge(energy[outlier], cfg.m_out).sum() / n_valid
    if cfg.regularizers:
        parts["smoothness"] = cfg.smoothness_weight * smoothness_abs_sum(energy, valid) / n_valid
        parts["sparsity"] = cfg.sparsity_weight * energy[valid].abs().sum() / n_valid

    total = torch.stack(list(parts.values())).sum()
    return total, parts
