"""Entropy-maximisation baseline (EM, paper Table 5): an extra class trained on outlier pixels
plus maximal uncertainty over the inlier classes there.

    total = CE(logits over Y+1 channels; outlier pixels -> class Y)
          - weight * mean_{outlier px} H(softmax(logits[:, :Y])) / log(Y)

The entropy is normalised by its maximum ``log Y`` so ``weight`` does not depend on Y.
Shapes as :class:`pebal.losses.PEBALLoss`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pebal.labels import IGNORE_INDEX
from pebal.losses.energy_terms import mean_or_zero
from pebal.losses.pebal_loss import check_shapes, label_masks


class EntropyMaximizationLoss(nn.Module):
    def __init__(self, num_classes: int = 19, weight: float = 0.1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.weight = weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        y = self.num_classes
        check_shapes(logits, target, y + 1)
        target = target.long()
        with torch.autocast(device_type=logits.device.type, enabled=False):
            logits = logits.float()
            inlier, outlier = label_masks(target, y)
            if not (inlier.any() or outlier.any()):
                zero = logits.sum() * 0.0
                return zero, {"total": zero.detach()}
            ce_target = torch.where(outlier, torch.full_like(target, y), target)
            ce_target = torch.where(inlier | outlier, ce_target, torch.full_like(target, IGNORE_INDEX))
            ce = F.cross_entropy(logits, ce_target, ignore_index=IGNORE_INDEX)
            log_p = F.log_softmax(logits[:, :y], dim=1).permute(0, 2, 3, 1)[outlier]
            entropy = -(log_p.exp() * log_p).sum(dim=1) / math.log(y)
            neg_entropy = -self.weight * mean_or_zero(entropy, logits)
            total = ce + neg_entropy
        parts = {"cross_entropy": ce.detach(), "neg_entropy": neg_entropy.detach(), "total": total.detach()}
        return total, parts
