"""DeepLabv3+ on a WideResNet38 trunk: the network of NVIDIA's and PEBAL's published checkpoints.

The module layout reproduces the published state dicts key for key (see
``spec/wrn38-deeplabv3plus-keys.tsv``: 268 tensors, 137,104,192 parameters with C = 20) so
those files load with strict key matching:

    branch1.mod1        conv 3->64 3x3                              [1/1]
    branch1.pool2       max-pool 3x3 / 2
    branch1.mod2        3 blocks (128, 128)                          [1/2]  -> fine features
    branch1.pool3       max-pool 3x3 / 2
    branch1.mod3        3 blocks (256, 256)                          [1/4]
    branch1.mod4        6 blocks (512, 512), first block stride 2    [1/8]
    branch1.mod5        3 blocks (512, 1024), dilation 2
    branch1.mod6        1 bottleneck (512, 1024, 2048), dilation 4, Dropout2d 0.3
    branch1.mod7        1 bottleneck (1024, 2048, 4096), dilation 4, Dropout2d 0.5
    branch1.aspp        [image pooling, 1x1, 3x3 r12, 3x3 r24, 3x3 r36] x 256 -> 1280
    branch1.bot_aspp    1x1 1280->256;  branch1.bot_fine  1x1 128->48 on the mod2 output
    branch1.final       conv3x3 304->256, BN, ReLU, conv3x3 256->256, BN, ReLU, conv1x1 256->C

Every bilinear resize uses ``align_corners=True`` as the checkpoints were trained with it.
Convolutions run channels-last (NHWC, faster on CPUs); the logits are NCHW-contiguous.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _bn_relu(channels: int) -> nn.Sequential:
    # a Sequential, so that keys read ``bn1.0.weight`` as in the published files
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    padding = dilation * (kernel // 2)
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)


class IdentityResidualBlock(nn.Module):
    """Pre-activation residual block: ``b = bn1(x)``; ``out = convs(b) + (proj_conv(b) or x)``.

    Args:
        in_channels: channels of ``x``.
        channels: two entries (3x3, 3x3) for a plain block or three (1x1, 3x3, 1x1) for a
            bottleneck; the last is the output channel count.
        stride: stride of the first convolution (and of ``proj_conv``).
        dilation: dilation of the 3x3 convolutions (padding equals the dilation).
        dropout: probability of the ``Dropout2d`` before the last convolution, if any.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        stride: int = 1,
        dilation: int = 1,
        dropout: float | None = None,
    ) -> None:
        super().__init__()
        if len(channels) not in (2, 3):
            raise ValueError(f"channels must have 2 or 3 entries, got {tuple(channels)}")
        self.bn1 = _bn_relu(in_channels)
        layers: list[tuple[str, nn.Module]]
        if len(channels) == 2:
            layers = [
                ("conv1", _conv(in_channels, channels[0], 3, stride, dilation)),
                ("bn2", _bn_relu(channels[0])),
                ("conv2", _conv(channels[0], channels[1], 3, 1, dilation)),
            ]
        else:
            layers = [
                ("conv1", _conv(in_channels, channels[0], 1, stride)),
                ("bn2", _bn_relu(channels[0])),
                ("conv2", _conv(channels[0], channels[1], 3, 1, dilation)),
                ("bn3", _bn_relu(channels[1])),
                ("conv3", _conv(channels[1], channels[2], 1)),
            ]
        if dropout is not None:
            layers.insert(len(layers) - 1, ("dropout", nn.Dropout2d(dropout)))
        self.convs = nn.Sequential(OrderedDict(layers))
        if stride != 1 or in_channels != channels[-1]:
            self.proj_conv = _conv(in_channels, channels[-1], 1, stride)
        else:
            self.proj_conv = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bn1(x)
        shortcut = self.proj_conv(b) if self.proj_conv is not None else x
        return self.convs(b) + shortcut


def _module(
    in_channels: int, channels: Sequence[int], blocks: int, dilation: int,
    first_stride: int = 1, dropout: float | None = None,
) -> nn.Sequential:
    layers = []
    for i in range(blocks):
        cin = in_channels if i == 0 else channels[-1]
        stride = first_stride if i == 0 else 1
        layers.append((f"block{i + 1}", IdentityResidualBlock(cin, channels, stride, dilation, dropout)))
    return nn.Sequential(OrderedDict(layers))


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, kernel, 1, dilation), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling; output = cat[image pooling, 1x1, r1, r2, r3] (5 * 256 ch)."""

    def __init__(self, in_channels: int = 4096, channels: int = 256, rates: Sequence[int] = (12, 24, 36)) -> None:
        super().__init__()
        self.features = nn.ModuleList(
            [_conv_bn_relu(in_channels, channels, 1)]
            + [_conv_bn_relu(in_channels, channels, 3, r) for r in rates]
        )
        self.img_pooling = nn.AdaptiveAvgPool2d(1)
        self.img_conv = _conv_bn_relu(in_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.img_conv(self.img_pooling(x))
        pooled = F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=True)
        return torch.cat([pooled] + [f(x) for f in self.features], dim=1)


class DeepV3PlusWRN38(nn.Module):
    """The segmentation network itself (what the published files call ``module``/``branch1``).

    Shape: (N, 3, H, W) normalised RGB -> logits (N, num_classes, H, W).
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.mod1 = nn.Sequential(OrderedDict([("conv1", _conv(3, 64, 3))]))
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.mod2 = _module(64, (128, 128), 3, dilation=1)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.mod3 = _module(128, (256, 256), 3, dilation=1)
        self.mod4 = _module(256, (512, 512), 6, dilation=1, first_stride=2)
        self.mod5 = _module(512, (512, 1024), 3, dilation=2)
        self.mod6 = _module(1024, (512, 1024, 2048), 1, dilation=4, dropout=0.3)
        self.mod7 = _module(2048, (1024, 2048, 4096), 1, dilation=4, dropout=0.5)
        self.aspp = ASPP(4096, 256, (12, 24, 36))
        self.bot_fine = nn.Conv2d(128, 48, 1, bias=False)
        self.bot_aspp = nn.Conv2d(1280, 256, 1, bias=False)
        self.final = nn.Sequential(
            _conv(304, 256, 3), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            _conv(256, 256, 3), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            nn.Conv2d(256, num_classes, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_trunk(x), tuple(x.shape[-2:]))

    def forward_trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before ``final``: (N, 3, H, W) -> cat[bot_fine, upsampled bot_aspp]
        (N, 304, ceil(H / 2), ceil(W / 2)), channels-last in memory."""
        # oneDNN runs NHWC convolutions without reordering activations at every layer: 20 %
        # less CPU time at 256x512 (benchmarks/bench_cpu_limit.py); a channels-last input makes
        # every convolution channels-last, whatever the layout the weights were loaded in
        x = x.contiguous(memory_format=torch.channels_last)
        fine = self.mod2(self.pool2(self.mod1(x)))
        deep = self.mod3(self.pool3(fine))
        for module in (self.mod4, self.mod5, self.mod6, self.mod7):
            deep = module(deep)
        aspp = self.bot_aspp(self.aspp(deep))
        aspp = F.interpolate(aspp, size=fine.shape[-2:], mode="bilinear", align_corners=True)
        return torch.cat([self.bot_fine(fine), aspp], dim=1)

    def forward_head(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``final`` on trunk features, logits resized to the input ``size`` (H, W)."""
        return self.resize_logits(self.final(features), size)

    def resize_logits(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The output of ``final`` -> logits at the input ``size`` (bilinear, aligned corners),
        NCHW-contiguous."""
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=True).contiguous()


class WRN38DeepLabV3Plus(nn.Module):
    """Wrapper giving the published ``branch1.<name>`` keys; ``final`` is ``branch1.final``.

    ``final`` is a property, not a submodule attribute, so the state dict holds it once.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.branch1 = DeepV3PlusWRN38(num_classes)

    @property
    def final(self) -> nn.Sequential:
        return self.branch1.final

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_trunk(x), tuple(x.shape[-2:]))

    def forward_trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before ``final`` (see :meth:`DeepV3PlusWRN38.forward_trunk`)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected normalised RGB images (N, 3, H, W), got shape {tuple(x.shape)}")
        return self.branch1.forward_trunk(x)

    def forward_head(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``final`` on trunk features, logits at ``size``: ``forward(x)`` is exactly
        ``forward_head(forward_trunk(x), x.shape[-2:])``."""
        return self.branch1.forward_head(features, size)

    def resize_logits(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The output of ``final`` -> logits at the input ``size``."""
        return self.branch1.resize_logits(logits, size)


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Kaiming-normal (fan-in, ReLU gain) convolutions, BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()  # weight 1, bias 0, running mean 0, var 1, count 0


def build_deeplabv3plus_wrn38(
    num_classes: int = 20,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> WRN38DeepLabV3Plus:
    """The WideResNet38 DeepLabv3+ with ``num_classes`` output channels.

    Weights are freshly initialised (see :func:`init_weights`) from ``generator``; there are
    no ImageNet weights here, load a published checkpoint with
    :func:`pebal.models.load_checkpoint`. ``device="meta"`` builds it without allocating
    (used by the checkpoint loader, which then assigns the file's tensors).
    """
    # built on the meta device first: skips PyTorch's default initialisation of 137M
    # parameters (global random state, then overwritten anyway)
    with torch.device("meta"):
        model = WRN38DeepLabV3Plus(num_classes)
    if device is not None and torch.device(device).type == "meta":
        return model
    model = model.to_empty(device=device if device is not None else "cpu")
    with torch.no_grad():
        init_weights(model, generator)
    # weights channels-last like the activations (forward_trunk), so no reorder per call;
    # load_state_dict keeps this layout
    return model.to(memory_format=torch.channels_last)
