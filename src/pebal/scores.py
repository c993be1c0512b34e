"""Post-hoc anomaly scores of a segmentation model's logits. Higher = more anomalous.

All take logits (N, C, H, W) and the number of inlier classes Y, use only the inlier
channels ``0..Y-1`` (the abstention channel, if any, is a training device), and return
(N, H, W) float32:

============  ==================================================  =====================
name          score                                               reference
============  ==================================================  =====================
``msp``        ``1 - max_c softmax(f)_c``                          Hendrycks & Gimpel 2017
``max_logit``  ``-max_c f_c``                                      Hendrycks et al. 2022
``entropy``    ``-sum_c p_c log p_c``                              —
``energy``     ``-logsumexp_c f_c`` (free energy, temperature 1)   Liu et al. 2020
``pebal``      Gaussian-smoothed ``-logsumexp_c f_c`` (7x7, s=1)   Tian et al. 2022
``abstention`` ``softmax(f)_Y`` over all Y+1 channels              EM baseline (Table 5)
============  ==================================================  =====================

``abstention`` is the one exception to "inlier channels only": it reads the extra class of
a model trained with it (the EM baseline), needs logits with exactly Y+1 channels, and so
lives in :data:`ABSTENTION_SCORES` (``get_score`` finds both).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from pebal.energy import anomaly_score, inlier_energy


def _inlier(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    if logits.dim() != 4 or logits.shape[1] < num_classes:
        raise ValueError(f"logits must be (N, C>={num_classes}, H, W), got {tuple(logits.shape)}")
    return logits[:, :num_classes].float()


def msp_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``1 - max softmax`` over the inlier classes."""
    return 1.0 - F.softmax(_inlier(logits, num_classes), dim=1).amax(dim=1)


def max_logit_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``-max logit`` over the inlier classes."""
    return -_inlier(logits, num_classes).amax(dim=1)


def entropy_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Entropy (nats) of the softmax over the inlier classes."""
    log_p = F.log_softmax(_inlier(logits, num_classes), dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def energy_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Free energy ``-logsumexp`` over the inlier classes, unsmoothed."""
    return inlier_energy(_inlier(logits, num_classes), num_classes)


def pebal_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """PEBAL's score: the Gaussian-smoothed inlier free energy."""
    return anomaly_score(logits, num_classes)


def abstention_score(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Softmax probability of the abstention channel ``Y`` over all ``Y+1`` channels."""
    if logits.dim() != 4 or logits.shape[1] != num_classes + 1:
        raise ValueError(f"the abstention score needs logits (N, {num_classes + 1}, H, W), got {tuple(logits.shape)}")
    return F.softmax(logits.float(), dim=1)[:, num_classes]


#: Every score by name.
SCORES: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "pebal": pebal_score,
    "msp": msp_score,
    "max_logit": max_logit_score,
    "entropy": entropy_score,
    "energy": energy_score,
}

#: Scores that read the abstention channel (logits with exactly Y+1 channels); kept apart
#: from :data:`SCORES`, whose members all work on the inlier channels alone.
ABSTENTION_SCORES: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {"abstention": abstention_score}


def get_score(name: str) -> Callable[[torch.Tensor, int], torch.Tensor]:
    if name in ABSTENTION_SCORES:
        return ABSTENTION_SCORES[name]
    if name not in SCORES:
        raise ValueError(f"unknown anomaly score {name!r}; valid: {', '.join([*SCORES, *ABSTENTION_SCORES])}")
    return SCORES[name]
