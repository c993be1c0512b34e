"""PEBALModel: any segmentation network plus the abstention channel and a trainable final block.

PEBAL fine-tunes only the final classification block of a pretrained segmentation model and
adds one output channel, the abstention (anomaly) class, at index ``Y`` (paper §3.2, §4.2).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pebal.energy import anomaly_score as _anomaly_score
from pebal.labels import abstention_index


def find_classifier_conv(block: nn.Module, num_classes: int) -> tuple[nn.Module, str, nn.Conv2d]:
    """The last ``Conv2d`` in ``block`` whose output channels equal ``num_classes``.

    Returns ``(parent, attribute_name, conv)`` so that the conv can be replaced in place.
    """
    found = None
    for parent_name, parent in block.named_modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.out_channels == num_classes:
                found = (parent, child_name, child)
    if found is None:
        convs = [f"{n}: {m.out_channels}" for n, m in block.named_modules() if isinstance(m, nn.Conv2d)]
        raise ValueError(
            f"no Conv2d with {num_classes} output channels in the final block; "
            f"its convolutions (name: out_channels) are {convs or 'none'}"
        )
    return found


def _holder(network: nn.Module, module: nn.Module) -> tuple[nn.Module, str]:
    """(parent, attribute name) of ``module`` inside ``network``."""
    for parent in network.modules():
        for name, child in parent.named_children():
            if child is module:
                return parent, name
    raise ValueError(f"the final block ({type(module).__name__}) is not a submodule of the network")


def extend_classifier(conv: nn.Conv2d, generator: torch.Generator | None = None) -> nn.Conv2d:
    """A copy of ``conv`` with one more output channel (the abstention channel).

    The trained channels are copied unchanged, so the argmax over them is unchanged; the new
    channel's weight is Kaiming-normal (fan-in, gain sqrt(2)) as in the reference loader, its
    bias (if any) zero.
    """
    new = nn.Conv2d(
        conv.in_channels,
        conv.out_channels + 1,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight[: conv.out_channels].copy_(conv.weight)
        fan_in = conv.weight[0].numel()
        std = math.sqrt(2.0) / math.sqrt(fan_in)
        noise = torch.randn(new.weight[-1].shape, generator=generator, dtype=torch.float32)
        new.weight[-1].copy_((noise * std).to(new.weight))
        if conv.bias is not None:
            new.bias[: conv.out_channels].copy_(conv.bias)
            new.bias[-1].zero_()
    return new


class PEBALModel(nn.Module):
    """A segmentation network with an abstention channel whose only trainable part is ``final``.

    Args:
        network: maps images (N, 3, H, W) to logits (N, C, H, W) at the input resolution.
        num_classes: Y, the number of inlier classes.
        final: the final classification block (a module inside ``network``); defaults to
            ``network.final``.
        add_abstention: extend the classifier conv from Y to Y+1 output channels (set False
            when the network already has Y+1, e.g. a loaded PEBAL checkpoint).
        freeze: freeze every parameter outside ``final`` (by module reference).
        frozen_train_mode: keep the frozen part in train mode when the model trains, as the
            reference implementation does (its batch-norm statistics drift, dropout is active).
            Default False: the frozen part stays in eval mode.
        generator: random generator for the new channel's initialisation.

    Shape:
        forward: (N, 3, H, W) -> logits (N, Y+1, H, W)
    """

    def __init__(
        self,
        network: nn.Module,
        num_classes: int,
        final: nn.Module | None = None,
        add_abstention: bool = True,
        freeze: bool = True,
        frozen_train_mode: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.num_classes = int(num_classes)
        if final is None:
            final = getattr(network, "final", None)
            if final is None:
                raise ValueError(
                    f"{type(network).__name__} has no attribute 'final': pass the final "
                    "classification block explicitly as PEBALModel(network, Y, final=...)"
                )
        if add_abstention and isinstance(final, nn.Conv2d):
            # the final block is the classifier conv itself: replace it where the network holds it
            parent, name = _holder(network, final)
            final = extend_classifier(final, generator)
            setattr(parent, name, final)
        elif add_abstention:
            parent, name, conv = find_classifier_conv(final, self.num_classes)
            setattr(parent, name, extend_classifier(conv, generator))
        elif isinstance(final, nn.Conv2d):
            if final.out_channels != self.num_classes + 1:
                raise ValueError(f"the final conv has {final.out_channels} output channels; expected "
                                 f"{self.num_classes + 1} (Y + 1 with the abstention channel)")
        else:
            find_classifier_conv(final, self.num_classes + 1)  # checks the channel count
        # a list keeps ``final`` out of this module's children (it is registered in network)
        self._final = [final]
        self.frozen_train_mode = frozen_train_mode
        self.metadata: dict = {}
        if freeze:
            self.freeze_backbone()

    @property
    def final(self) -> nn.Module:
        return self._final[0]

    @property
    def abstention_index(self) -> int:
        return abstention_index(self.num_classes)

    def freeze_backbone(self) -> None:
        """Only the final block's parameters require gradients."""
        for p in self.network.parameters():
            p.requires_grad_(False)
        for p in self.final.parameters():
            p.requires_grad_(True)

    def train(self, mode: bool = True) -> PEBALModel:
        super().train(mode)
        if mode and not self.frozen_train_mode:
            self.network.eval()
            self.final.train(True)
        return self

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, total

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def segment(self, logits: torch.Tensor) -> torch.Tensor:
        """Inlier segmentation (N, H, W) long: argmax over the Y inlier channels."""
        return logits[:, : self.num_classes].argmax(dim=1)

    def anomaly_score(self, logits: torch.Tensor) -> torch.Tensor:
        """Smoothed inlier free energy (N, H, W), higher = more anomalous."""
        return _anomaly_score(logits, self.num_classes)
