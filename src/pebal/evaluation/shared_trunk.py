"""One trunk pass for every model that differs from another only in its final block.

PEBAL trains only ``final``; the pretrained model, the fine-tuned model, the batch-norm-only
control and every trained ablation row of one backbone therefore run the same trunk (encoder,
ASPP, decoder) on the same images. :class:`SharedForward` groups the models whose trunks are
identical and runs each group's trunk once per batch, then every member's ``final`` on those
features. A network takes part when it has ``forward_trunk(images)`` and
``forward_head(features, size)`` with ``forward(x) == forward_head(forward_trunk(x), size)``
(both architectures of :mod:`pebal.models` do, by construction), so the logits are bitwise
those of ``model(x)``: the same kernels on the same tensors, one pass fewer.

Two trunks are identical when (see :func:`trunk_signature`) their networks have the same type,
the same modules outside ``final`` with the same hyper-parameters (``extra_repr``) and mode
(train / eval), every parameter and buffer outside ``final`` bitwise equal (same dtype,
device, layout, values), and no hook on a trunk module (a hook would run once, not per
model). Batch-norm running statistics are buffers: a control run whose frozen part was in
train mode (``frozen_train_mode``, the reference preset) has drifted trunk statistics and
gets its own trunk pass. Anything else (an unknown network, a torch.fx graph, ...) runs alone.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def _split_network(model: nn.Module) -> nn.Module | None:
    """The network whose ``forward_trunk`` / ``forward_head`` compose ``model``'s forward, or
    None. A :class:`~pebal.model.PEBALModel` forwards to its network unchanged; any other
    wrapper might do more, so only bare networks and PEBALModels take part."""
    from pebal.model import PEBALModel

    net = model.network if isinstance(model, PEBALModel) else model
    if net is not model and (model._forward_hooks or model._forward_pre_hooks):
        return None  # a hook on the wrapper would be skipped
    if not isinstance(getattr(model, "final", None), nn.Module):
        return None
    if callable(getattr(net, "forward_trunk", None)) and callable(getattr(net, "forward_head", None)):
        return net
    return None


def trunk_signature(model: nn.Module) -> str | None:
    """A digest of everything the trunk computation depends on, or None when ``model`` cannot
    share its trunk (no split, or a hook on a trunk module).

    Equal digests mean equal trunk outputs for equal inputs: type, module structure outside
    ``final`` with each module's ``extra_repr`` and training flag, and the bytes of every
    parameter and buffer outside ``final`` (with name, dtype, shape, strides, device).
    """
    net = _split_network(model)
    if net is None:
        return None
    final = model.final
    head_modules = {id(m) for m in final.modules()}
    head_tensors = {id(t) for t in [*final.parameters(), *final.buffers()]}
    digest = hashlib.sha256(type(net).__qualname__.encode())
    for name, module in net.named_modules():
        if id(module) in head_modules:
            continue
        if module._forward_hooks or module._forward_pre_hooks:
            return None
        digest.update(f"|{name}:{type(module).__qualname__}({module.extra_repr()}):{module.training}".encode())
    for name, tensor in net.state_dict(keep_vars=True).items():
        if id(tensor) in head_tensors:
            continue
        t = tensor.detach()
        digest.update(f"|{name}:{t.dtype}:{tuple(t.shape)}:{t.stride()}:{t.device}".encode())
        # values as raw bytes: -0.0 vs 0.0 and NaN payloads count as different (bitwise identity)
        digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def trunk_groups(models: dict[str, nn.Module]) -> list[list[str]]:
    """Model keys grouped by identical trunk, in the order of ``models``; a model that cannot
    share (see :func:`trunk_signature`) is a group of its own."""
    groups: dict[str, list[str]] = {}
    for key, model in models.items():
        signature = trunk_signature(model)
        groups.setdefault(signature if signature is not None else f"alone:{key}", []).append(key)
    return list(groups.values())


class SharedForward:
    """Logits of several models on one batch, each distinct trunk computed once.

    Args:
        models: key -> model; groups are fixed at construction (call again after a model's
            weights change).

    Shape:
        ``__call__(images (N, 3, H, W))`` -> ``{key: logits (N, C_key, H, W)}``, in the
        order of ``models``, each bitwise equal to ``models[key](images)``.
    """

    def __init__(self, models: dict[str, nn.Module]) -> None:
        self.models = dict(models)
        self.groups = trunk_groups(self.models)

    @property
    def trunk_passes(self) -> int:
        """Trunk passes per batch (the number of groups)."""
        return len(self.groups)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        size = tuple(images.shape[-2:])
        logits: dict[str, torch.Tensor] = {}
        for group in self.groups:
            if len(group) == 1:
                logits[group[0]] = self.models[group[0]](images)
                continue
            trunk = _split_network(self.models[group[0]]).forward_trunk(images)
            for key in group:
                logits[key] = _split_network(self.models[key]).forward_head(trunk, size)
        return {key: logits[key] for key in self.models}
