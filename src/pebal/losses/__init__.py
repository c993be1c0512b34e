"""Losses: PAL, energy hinges, regularisers (paper and reference forms), ablations, EM.

``build_loss(method, num_classes, variant)`` builds a named method of the paper's ablation:

==============  =================================================================
``pebal``        PAL + energy hinges + regularisers (the full method)
``pal_ebm``      PAL + energy hinges, no regularisers
``pal_fixed``    PAL with a constant penalty 4.5 (Deep Gambler)
``ebm``          energy hinges (+ cross-entropy on inlier pixels), no PAL
``em``           extra class with entropy maximisation on outlier pixels
==============  =================================================================
"""

from pebal.losses.entropy_max import EntropyMaximizationLoss
from pebal.losses.pal import DEEP_GAMBLER_PENALTY
from pebal.losses.pebal_loss import PEBALLoss, PEBALLossConfig

METHODS = {
    "pebal": {},
    "pal_ebm": {"regularizers": False},
    "pal_fixed": {"energy": False, "regularizers": False, "fixed_penalty": DEEP_GAMBLER_PENALTY},
    "ebm": {"pal": False, "regularizers": False},
}


def build_loss(method: str = "pebal", num_classes: int = 19, variant: str = "reference", **overrides):
    """The loss of a named training method (see the module docstring)."""
    if method == "em":
        return EntropyMaximizationLoss(num_classes=num_classes, **overrides)
    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}; valid: {', '.join([*METHODS, 'em'])}")
    return PEBALLoss(num_classes=num_classes, variant=variant, **{**METHODS[method], **overrides})


__all__ = [
    "DEEP_GAMBLER_PENALTY",
    "EntropyMaximizationLoss",
    "METHODS",
    "PEBALLoss",
    "PEBALLossConfig",
    "build_loss",
]
