"""Pixel-wise anomaly abstention (PAL), paper eq. 3, computed in log space.

For a pixel with softmax ``p`` over Y+1 channels and penalty ``a``, PAL's likelihood of
class ``c`` is ``p[c] + p[Y] / a``: the model may *abstain* (put mass on the abstention
channel ``Y``) at a cost that grows with ``a``. PEBAL makes ``a`` adaptive: ``a = (-E)^2``
with ``E`` the inlier free energy, so abstaining is cheap where the energy is high.

Everything here works with ``log(p[c] + p[Y]/a) = logaddexp(log p[c], log p[Y] - log a)``,
which equals the direct formula but stays finite for extreme logits (+-1e4), where ``p``
underflows to exactly 0 and the direct formula gives ``log 0``.
"""

from __future__ import annotations

import torch

from pebal.energy import abstention_penalty, gaussian_smooth

#: The reference implementation's constant penalty (Deep Gambler baseline).
DEEP_GAMBLER_PENALTY = 4.5


def log_penalty(
    energy: torch.Tensor,
    *,
    smooth: bool,
    detach: bool = False,
    fixed: float | None = None,
) -> torch.Tensor:
    """``log a`` per pixel, (N, H, W).

    ``a = (-E)^2``, Gaussian-smoothed per image (7x7, sigma 1, reflect) when ``smooth``
    (the reference does; the paper does not mention it), detached when ``detach``.
    With ``fixed`` the penalty is that constant everywhere (PAL with a fixed penalty).
    The penalty is floored at the smallest normal float only to keep ``log`` finite when
    ``E`` is exactly 0 over a whole neighbourhood; it never binds otherwise.
    """
    if fixed is not None:
        if fixed <= 0:
            raise ValueError(f"a fixed abstention penalty must be positive, got {fixed}")
        return energy.new_full(energy.shape, float(fixed)).log()
    penalty = abstention_penalty(energy)
    if smooth:
        penalty = gaussian_smooth(penalty, kernel_size=7, sigma=1.0)
    if detach:
        penalty = penalty.detach()
    return penalty.clamp_min(torch.finfo(penalty.dtype).tiny).log()


def log_reserve(log_probs: torch.Tensor, log_a: torch.Tensor, abstention: int) -> torch.Tensor:
    """``log(p[Y] / a)`` per pixel, (N, H, W)."""
    return log_probs[:, abstention] - log_a


def log_pal_target(log_probs: torch.Tensor, target: torch.Tensor, log_res: torch.Tensor) -> torch.Tensor:
    """``log(p[y] + p[Y]/a)`` at each pixel's own class ``y``.

    Shape: log_probs (N, C, H, W), target (N, H, W) long with values in ``0..C-1``
    (the caller replaces void/outlier labels and masks those pixels out), log_res (N, H, W)
    -> (N, H, W).
    """
    log_p_y = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return torch.logaddexp(log_p_y, log_res)


def log_pal_all_classes(log_probs: torch.Tensor, log_res: torch.Tensor, classes: int) -> torch.Tensor:
    """``log(p[c] + p[Y]/a)`` for every class ``c < classes``: (N, classes, H, W)."""
    return torch.logaddexp(log_probs[:, :classes], log_res.unsqueeze(1))


def inlier_nll(logits: torch.Tensor, target: torch.Tensor, inlier: torch.Tensor, classes: int) -> torch.Tensor:
    """Per-pixel cross-entropy over the ``classes`` inlier channels at inlier pixels: (P,).

    The classification term of the ablations without PAL (the abstention channel unused).
    """
    log_p = torch.nn.functional.log_softmax(logits[:, :classes], dim=1)
    nll = -log_p.gather(1, torch.where(inlier, target, 0).unsqueeze(1)).squeeze(1)
    return nll[inlier]


def pal_log_likelihood(log_probs: torch.Tensor, energy: torch.Tensor, target: torch.Tensor, inlier: torch.Tensor,
                       cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log(p[y] + p[Y]/a), log(p[Y]/a))`` per pixel, (N, H, W) each, with the penalty as
    ``cfg`` configures it (``smooth_penalty``, ``detach_penalty``, ``fixed_penalty``);
    non-inlier pixels get class 0 in the first map and must be masked by the caller."""
    log_a = log_penalty(energy, smooth=cfg.smooth_penalty, detach=cfg.detach_penalty, fixed=cfg.fixed_penalty)
    log_res = log_reserve(log_probs, log_a, cfg.num_classes)
    return log_pal_target(log_probs, torch.where(inlier, target, 0), log_res), log_res
