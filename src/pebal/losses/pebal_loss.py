"""``PEBALLoss``: the full PEBAL objective, as the paper writes it or as the reference runs it.

Usage::

    loss = PEBALLoss(num_classes=19, variant="reference")
    total, parts = loss(logits, target)    # parts: named terms, detached, summing to total

Shape:
    logits: (N, Y+1, H, W) float — channel Y is the abstention class
    target: (N, H, W) long — train ids 0..Y-1, 254 (pasted outlier), 255 (void)
    total: scalar; parts: dict of scalars

Edge cases (defined, never NaN): a batch without outlier pixels drops the outlier terms; a
batch whose pixels are all void gives a zero loss with zero gradient (nothing is labelled,
so nothing is learnt — the smoothness term is not applied alone); logits of +-1e4 stay
finite because PAL is computed in log space; under bfloat16 autocast the loss is computed in
float32.

Ablations (paper Table 5): ``pal=False`` (energy hinges only; the inlier classes are then
trained with plain cross-entropy), ``fixed_penalty=4.5`` (PAL with a constant penalty: the
Deep Gambler baseline), ``regularizers=False`` (PAL + energy), ``energy=False``.
The entropy-maximisation baseline is :class:`pebal.losses.EntropyMaximizationLoss`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from pebal.labels import IGNORE_INDEX, OUTLIER_INDEX
from pebal.losses.energy_terms import M_IN, M_OUT
from pebal.losses.paper import paper_loss
from pebal.losses.reference import reference_loss

VARIANTS = ("reference", "paper")

#: Weights that differ between the two formulations.
_VARIANT_DEFAULTS = {
    # the reference puts 5e-4 on the sparsity norm and 3e-6 on the smoothness sum
    "reference": {"smoothness_weight": 3e-6, "sparsity_weight": 5e-4, "smooth_penalty": True},
    # the paper: beta1 = 5e-4 on smoothness, beta2 = 3e-6 on sparsity, penalty not smoothed
    "paper": {"smoothness_weight": 5e-4, "sparsity_weight": 3e-6, "smooth_penalty": False},
}


@dataclass
class PEBALLossConfig:
    num_classes: int = 19
    variant: str = "reference"
    m_in: float = M_IN
    m_out: float = M_OUT
    energy_weight: float = 0.1  # lambda
    smoothness_weight: float | None = None  # None: the variant's default
    sparsity_weight: float | None = None
    smooth_penalty: bool | None = None
    detach_penalty: bool = False
    fixed_penalty: float | None = None
    outlier_pal_weight: float = 0.1  # reference only
    outlier_clamp: float = 1e-7  # reference only
    pal: bool = True
    energy: bool = True
    regularizers: bool = True

    def resolved(self) -> PEBALLossConfig:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown PEBAL loss variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        values = asdict(self)
        for key, default in _VARIANT_DEFAULTS[self.variant].items():
            if values[key] is None:
                values[key] = default
        return PEBALLossConfig(**values)


def label_masks(target: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inlier, outlier) bool masks of a training target; refuses unknown label values."""
    inlier = (target >= 0) & (target < num_classes)
    outlier = target == OUTLIER_INDEX
    unknown = ~(inlier | outlier | (target == IGNORE_INDEX))
    if unknown.any():
        values = torch.unique(target[unknown])[:10].tolist()
        raise ValueError(
            f"target holds values {values} that are neither a train id 0..{num_classes - 1}, "
            f"the outlier label {OUTLIER_INDEX} nor void {IGNORE_INDEX}"
        )
    return inlier, outlier


def check_shapes(logits: torch.Tensor, target: torch.Tensor, channels: int) -> None:
    if logits.dim() != 4 or logits.shape[1] != channels:
        raise ValueError(f"logits must be (N, {channels}, H, W), got {tuple(logits.shape)}")
    if target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}: "
            f"expected {(logits.shape[0], *logits.shape[2:])}"
        )


class PEBALLoss(nn.Module):
    """PEBAL's loss; see the module docstring. Keyword arguments are :class:`PEBALLossConfig` fields."""

    def __init__(self, num_classes: int = 19, variant: str = "reference", **kwargs) -> None:
        super().__init__()
        self.config = PEBALLossConfig(num_classes=num_classes, variant=variant, **kwargs).resolved()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        check_shapes(logits, target, cfg.num_classes + 1)
        target = target.long()
        with torch.autocast(device_type=logits.device.type, enabled=False):
            logits = logits.float()
            inlier, outlier = label_masks(target, cfg.num_classes)
            if not (inlier.any() or outlier.any()):
                zero = logits.sum() * 0.0
                return zero, {"total": zero.detach()}
            compute = reference_loss if cfg.variant == "reference" else paper_loss
            total, parts = compute(logits, target, (inlier, outlier), cfg)
        parts = {name: value.detach() for name, value in parts.items()}
        parts["total"] = total.detach()
        return total, parts

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
