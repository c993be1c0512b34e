"""Compute once what several models compute alike: a shared trunk, and a shared start of ``final``.

PEBAL trains only ``final``; the pretrained model, the fine-tuned model, the batch-norm-only
control and every trained ablation row of one backbone therefore run the same trunk (encoder,
ASPP, decoder) on the same images. The control shares more: at learning rate 0 its convolution
weights are the pretrained ones and only the batch-norm statistics of ``final`` moved, so
``final[0]`` (a convolution) gives the same output too.

:class:`SharedForward` splits each model's forward into stages, ``trunk``, then each module
of ``final`` (an ``nn.Sequential``), then the resize to the input size, and computes every
distinct *prefix* of stages once per batch: a stage is shared by two models when every stage
up to it is identical (see :func:`module_signature`: same module types, hyper-parameters and
train / eval mode, bitwise equal parameters and buffers, no hooks). Differences are found by
comparing the models' tensors, never assumed: a control whose frozen part drifted (the
reference preset's ``frozen_train_mode``) has other trunk statistics and gets its own trunk.

A network takes part when it has ``forward_trunk(images)``, ``resize_logits(logits, size)``
and ``final``, with ``forward(x) == resize_logits(final(forward_trunk(x)), size)`` (both
architectures of :mod:`pebal.models`, by construction). The logits are then bitwise those of
``model(x)``: the same kernels on the same tensors, fewer calls. Any other model runs whole.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable

import torch
from torch import nn

Stage = tuple[str, Callable[[torch.Tensor], torch.Tensor], bool]  # (signature, function, in place)


def _split_network(model: nn.Module) -> nn.Module | None:
    """The network whose stages compose ``model``'s forward, or None. A
    :class:`~pebal.model.PEBALModel` forwards to its network unchanged; any other wrapper might
    do more, so only bare networks and PEBALModels take part."""
    from pebal.model import PEBALModel

    net = model.network if isinstance(model, PEBALModel) else model
    if _hooked(model) or (net is not model and _hooked(net)):
        return None  # a hook on the model itself would be skipped
    if not isinstance(getattr(model, "final", None), nn.Module):
        return None
    if all(callable(getattr(net, name, None)) for name in ("forward_trunk", "resize_logits")):
        return net
    return None


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def module_signature(module: nn.Module, exclude: nn.Module | None = None) -> str | None:
    """A digest of everything ``module``'s computation depends on, leaving out the submodule
    ``exclude`` (and its tensors); None when a module has a hook (it must run for its owner).

    Covers each submodule's name, type, ``extra_repr`` and training flag, and every parameter
    and buffer (name, dtype, shape, strides, device and bytes: -0.0 and 0.0 differ).
    """
    skip_modules = {id(m) for m in exclude.modules()} if exclude is not None else set()
    skip_tensors = {id(t) for t in [*exclude.parameters(), *exclude.buffers()]} if exclude is not None else set()
    digest = hashlib.sha256()
    for name, sub in module.named_modules():
        if id(sub) in skip_modules:
            continue
        if _hooked(sub):
            return None
        digest.update(f"|{name}:{type(sub).__qualname__}({sub.extra_repr()}):{sub.training}".encode())
    for name, tensor in module.state_dict(keep_vars=True).items():
        if id(tensor) in skip_tensors:
            continue
        t = tensor.detach()
        digest.update(f"|{name}:{t.dtype}:{tuple(t.shape)}:{t.stride()}:{t.device}".encode())
        if t.numel():
            digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def trunk_signature(model: nn.Module) -> str | None:
    """The digest of ``model``'s network outside ``final``, or None if it cannot be shared."""
    net = _split_network(model)
    return None if net is None else module_signature(net, exclude=model.final)


def model_stages(model: nn.Module, key: str, size: tuple[int, int]) -> list[Stage]:
    """``model``'s forward as stages; a model that cannot share is one stage unique to ``key``."""
    net = _split_network(model)
    trunk = None if net is None else module_signature(net, exclude=model.final)
    if trunk is None:
        return [(f"whole:{key}", model, False)]
    final = model.final
    stages: list[Stage] = [(f"trunk:{type(net).__qualname__}:{trunk}", net.forward_trunk, False)]
    if isinstance(final, nn.Sequential) and not _hooked(final):
        for i, sub in enumerate(final):
            signature = module_signature(sub)
            # a hooked module runs for its own model only
            stages.append((f"{i}:{signature}" if signature is not None else f"{i}:own:{key}", sub,
                           bool(getattr(sub, "inplace", False))))
    else:
        signature = module_signature(final)
        stages.append((f"final:{signature}" if signature is not None else f"final:own:{key}", final, False))
    stages.append((f"resize:{type(net).__qualname__}:{size}", lambda x: net.resize_logits(x, size), False))
    return stages


class SharedForward:
    """Logits of several models on one batch, each distinct prefix of stages computed once.

    Args:
        models: key -> model; stages are compared at construction (build a new one after a
            model's weights change).

    Shape:
        ``__call__(images (N, 3, H, W))`` -> ``{key: logits (N, C_key, H, W)}``, in the
        order of ``models``, each bitwise equal to ``models[key](images)``.
    """

    def __init__(self, models: dict[str, nn.Module]) -> None:
        self.models = dict(models)
        self._stages: dict[tuple[int, int], dict[str, list[Stage]]] = {}

    def stages(self, size: tuple[int, int]) -> dict[str, list[Stage]]:
        if size not in self._stages:  # the resize stage depends on the input size
            self._stages[size] = {key: model_stages(m, key, size) for key, m in self.models.items()}
        return self._stages[size]

    def stage_calls(self, size: tuple[int, int]) -> dict[str, int]:
        """Per batch: ``{"trunk": trunk passes, "stages": all stage calls, "unshared": the stage
        calls that separate passes would make}``."""
        stages = self.stages(size)
        prefixes = {tuple(s[0] for s in st[: i + 1]) for st in stages.values() for i in range(len(st))}
        return {"trunk": len({p for p in prefixes if len(p) == 1}), "stages": len(prefixes),
                "unshared": sum(len(st) for st in stages.values())}

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        stages = self.stages(tuple(images.shape[-2:]))
        # prefixes that more than one model reaches: their outputs are kept for the others
        uses = Counter(tuple(s[0] for s in st[: i + 1]) for st in stages.values() for i in range(len(st)))
        kept: dict[tuple[str, ...], torch.Tensor] = {}
        logits: dict[str, torch.Tensor] = {}
        for key, model_stages_ in stages.items():
            x, prefix, shared_input = images, (), False
            for signature, function, in_place in model_stages_:
                prefix = (*prefix, signature)
                if prefix in kept:
                    x, shared_input = kept[prefix], True
                    continue
                # an in-place module must not overwrite a tensor another model still reads
                x = function(x.clone() if in_place and shared_input else x)
                shared_input = uses[prefix] > 1
                if shared_input:
                    kept[prefix] = x
            logits[key] = x
        return logits
