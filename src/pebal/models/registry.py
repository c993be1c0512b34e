"""Model registry: ``create_model(name, num_classes=...)`` builds an architecture by name.

Each entry maps a name to ``"module:function"`` inside :mod:`pebal.models`; the module is
imported only when that model is requested, so the registry has no import-time cost.
"""

from __future__ import annotations

import importlib

from torch import nn

_MODELS: dict[str, str] = {
    "deeplabv3plus_small": "pebal.models.small_deeplab:build_small_deeplab",
    "deeplabv3plus_wrn38": "pebal.models.wrn38:build_deeplabv3plus_wrn38",
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_MODELS)


def create_model(name: str, num_classes: int = 19, **kwargs) -> nn.Module:
    """Build the architecture ``name`` with ``num_classes`` output channels.

    Every model is a plain ``nn.Module`` mapping images (N, 3, H, W) to logits
    (N, num_classes, H, W) and exposes its final classification block as ``model.final``.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    module_name, function_name = _MODELS[name].split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(num_classes=num_classes, **kwargs)
