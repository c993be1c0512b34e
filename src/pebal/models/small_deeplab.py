"""A small DeepLabv3+ with the layout of the WideResNet38 reference, for CPUs.

The network mirrors the reference backbone (``/work/shared/spec/wrn38-deeplabv3plus.md``) at
a small scale, so that PEBAL's code paths (fine-tune ``final``, extend its last conv by the
abstention channel, read the penultimate features) are the same on both:

* ``encoder``: pre-activation "identity residual" blocks. ``mod1`` (3x3 conv, full
  resolution) -> max-pool -> ``mod2`` [1/2] -> max-pool -> ``mod3`` [1/4] -> ``mod4`` (first
  block strides) [1/8] -> ``mod5`` (dilation 2) -> ``mod6`` (bottleneck, dilation 4) [1/8].
  Output stride 8 keeps poles and persons a few feature pixels wide at 128x256.
* ``aspp``: image pooling + a 1x1 branch + three dilated 3x3 branches, concatenated in
  that order (image pooling first), each conv followed by BatchNorm and ReLU.
* ``decoder``: ``bot_aspp`` (1x1 on the ASPP output) upsampled to the ``mod2`` size [1/2]
  and concatenated after ``bot_fine`` (1x1 on the ``mod2`` output): ``[fine, aspp]``.
* ``final``: conv3x3-BN-ReLU-conv3x3-BN-ReLU-conv1x1 (no bias), the block PEBAL fine-tunes;
  ``final[6]`` is the classifier. Its logits are upsampled to the input size.

All convolutions are bias-free and every bilinear resize uses ``align_corners=True``, as in
the reference. Weights are kept channels-last (faster on CPUs); outputs are NCHW-contiguous. Inputs whose sides are not multiples of :data:`OUTPUT_STRIDE` are padded on
the bottom/right by replication and the logits cropped back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: The encoder downsamples by this factor; inputs are padded internally to a multiple of it.
OUTPUT_STRIDE = 8

#: Default widths: (mod1, mod2, mod3, mod4, mod5) output channels and mod6's bottleneck.
DEFAULT_WIDTHS = (24, 32, 64, 128, 160)
DEFAULT_BOTTLENECK = (64, 128, 256)


def _bn_relu(channels: int) -> nn.Sequential:
    # a Sequential so that keys read ``bn1.0.weight`` as in the reference checkpoints
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class IdentityResidualBlock(nn.Module):
    """Pre-activation residual block: ``b = bn1(x)``; ``out = convs(b) + (proj_conv(b) or x)``.

    ``channels`` of length 2 gives the non-bottleneck form (3x3, 3x3), of length 3 the
    bottleneck form (1x1 with the stride, 3x3 dilated, 1x1).

    Shape: (N, in_channels, H, W) -> (N, channels[-1], ceil(H / stride), ceil(W / stride))
    """

    def __init__(self, in_channels: int, channels: Sequence[int], stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        if len(channels) not in (2, 3):
            raise ValueError(f"channels must have 2 (basic) or 3 (bottleneck) entries, got {tuple(channels)}")
        self.bn1 = _bn_relu(in_channels)
        if len(channels) == 2:
            layers = [
                ("conv1", _conv3x3(in_channels, channels[0], stride, dilation)),
                ("bn2", _bn_relu(channels[0])),
                ("conv2", _conv3x3(channels[0], channels[1], 1, dilation)),
            ]
        else:
            layers = [
                ("conv1", nn.Conv2d(in_channels, channels[0], 1, stride=stride, bias=False)),
                ("bn2", _bn_relu(channels[0])),
                ("conv2", _conv3x3(channels[0], channels[1], 1, dilation)),
                ("bn3", _bn_relu(channels[1])),
                ("conv3", nn.Conv2d(channels[1], channels[2], 1, bias=False)),
            ]
        self.convs = nn.Sequential(OrderedDict(layers))
        self.proj_conv = None
        if stride != 1 or in_channels != channels[-1]:
            self.proj_conv = nn.Conv2d(in_channels, channels[-1], 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bn1(x)
        shortcut = self.proj_conv(b) if self.proj_conv is not None else x
        return self.convs(b) + shortcut


def _stage(in_channels: int, channels: Sequence[int], blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    layers = []
    for i in range(blocks):
        layers.append((f"block{i + 1}", IdentityResidualBlock(in_channels, channels, stride if i == 0 else 1, dilation)))
        in_channels = channels[-1]
    return nn.Sequential(OrderedDict(layers))


class SmallEncoder(nn.Module):
    """Residual trunk with output stride 8.

    Returns ``(low, high)``: the raw ``mod2`` output (N, widths[1], H/2, W/2) for the decoder
    skip and the raw ``mod6`` output (N, bottleneck[-1], H/8, W/8) for the ASPP (pre-activation
    trunk: no activation after the last block, as in the reference).
    """

    def __init__(self, widths: Sequence[int], bottleneck: Sequence[int], blocks: Sequence[int]) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.mod1 = nn.Conv2d(3, w1, 3, padding=1, bias=False)
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.mod2 = _stage(w1, (w2, w2), blocks[0])
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.mod3 = _stage(w2, (w3, w3), blocks[1])
        self.mod4 = _stage(w3, (w4, w4), blocks[2], stride=2)
        self.mod5 = _stage(w4, (w4, w5), blocks[3], dilation=2)
        self.mod6 = _stage(w5, tuple(bottleneck), 1, dilation=4)
        self.low_channels = w2
        self.out_channels = bottleneck[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.mod1(x)
        low = self.mod2(self.pool2(x))
        x = self.mod4(self.mod3(self.pool3(low)))
        x = self.mod6(self.mod5(x))
        return low, x


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation if kernel == 3 else 0
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling; output channels ``5 * channels``.

    Concatenation order: image pooling, 1x1, then the 3x3 branches at ``rates``.
    """

    def __init__(self, in_channels: int, channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.img_pooling = nn.AdaptiveAvgPool2d(1)
        self.img_conv = _conv_bn_relu(in_channels, channels, 1)
        self.features = nn.ModuleList(
            [_conv_bn_relu(in_channels, channels, 1)] + [_conv_bn_relu(in_channels, channels, 3, r) for r in rates]
        )
        self.out_channels = channels * (2 + len(rates))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.img_conv(self.img_pooling(x))
        pooled = F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=True)
        return torch.cat([pooled] + [branch(x) for branch in self.features], dim=1)


class Decoder(nn.Module):
    """``cat([bot_fine(low), up(bot_aspp(aspp))])`` at the resolution of ``low``."""

    def __init__(self, low_channels: int, aspp_channels: int, fine_channels: int, reduced_channels: int) -> None:
        super().__init__()
        self.bot_fine = nn.Conv2d(low_channels, fine_channels, 1, bias=False)
        self.bot_aspp = nn.Conv2d(aspp_channels, reduced_channels, 1, bias=False)
        self.out_channels = fine_channels + reduced_channels

    def forward(self, low: torch.Tensor, aspp: torch.Tensor) -> torch.Tensor:
        coarse = F.interpolate(self.bot_aspp(aspp), size=low.shape[2:], mode="bilinear", align_corners=True)
        return torch.cat([self.bot_fine(low), coarse], dim=1)


def _final_block(in_channels: int, channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels, num_classes, 1, bias=False),
    )


class SmallDeepLabV3Plus(nn.Module):
    """Small DeepLabv3+ (see the module docstring). Build it with :func:`build_small_deeplab`.

    Shape:
        images: (N, 3, H, W) float, normalised with the ImageNet mean/std
        output: logits (N, num_classes, H, W) float
    """

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int],
        bottleneck: Sequence[int],
        blocks: Sequence[int],
        aspp_channels: int,
        aspp_rates: Sequence[int],
        fine_channels: int,
        decoder_channels: int,
        final_channels: int,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.encoder = SmallEncoder(widths, bottleneck, blocks)
        self.aspp = ASPP(self.encoder.out_channels, aspp_channels, aspp_rates)
        self.decoder = Decoder(self.encoder.low_channels, self.aspp.out_channels, fine_channels, decoder_channels)
        self.final = _final_block(self.decoder.out_channels, final_channels, num_classes)
        self._initialise(generator)
        # NHWC convolutions are ~25% faster on CPU (oneDNN); load_state_dict keeps the layout
        self.to(memory_format=torch.channels_last)

    def _initialise(self, generator: torch.Generator | None) -> None:
        # Kaiming-normal convs, BN weight 1 / bias 0, as the reference initialises a fresh final
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _decoded(self, images: torch.Tensor) -> torch.Tensor:
        low, high = self.encoder(images)
        return self.decoder(low, self.aspp(high))

    def _padded(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
        h, w = images.shape[2:]
        pad_h, pad_w = (-h) % OUTPUT_STRIDE, (-w) % OUTPUT_STRIDE
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")
        return images

    def _to_input_size(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        padded = (h + (-h) % OUTPUT_STRIDE, w + (-w) % OUTPUT_STRIDE)
        x = F.interpolate(x, size=padded, mode="bilinear", align_corners=True)
        # callers get the default (NCHW-contiguous) layout whatever the internal one
        return x[:, :, :h, :w].contiguous()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_trunk(images), tuple(images.shape[2:]))

    def forward_trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Everything before ``final``: (N, 3, H, W) -> the decoder output (N, D, H' / 2, W' / 2),
        H', W' = H, W rounded up to multiples of 8. ``forward`` is exactly
        ``forward_head(forward_trunk(x), (H, W))``: models that differ only in ``final`` can
        share one trunk pass (:mod:`pebal.evaluation.shared_trunk`)."""
        return self._decoded(self._padded(images))

    def forward_head(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``final`` on trunk features, logits resized to the input ``size`` (H, W)."""
        return self.resize_logits(self.final(features), size)

    def resize_logits(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The output of ``final`` (N, C, H' / 2, W' / 2) -> logits (N, C, H, W), NCHW-contiguous."""
        return self._to_input_size(logits, size)

    def forward_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features and logits.

        Returns ``(features, logits)``: ``features`` (N, final_channels, H' / 2, W' / 2) is the
        input of the classifier ``final[-1]`` at the decoder's resolution, where H', W' are H, W
        rounded up to multiples of 8 (the internal padding); ``logits`` (N, C, H, W) equal
        ``forward(images)``. Because the classifier is a bias-free 1x1 conv and bilinear
        resizing is linear, ``logits`` equal the classifier applied to the features resized
        to the padded input size (then cropped), up to rounding.
        """
        size = images.shape[2:]
        features = self.final[:-1](self._decoded(self._padded(images)))
        logits = self._to_input_size(self.final[-1](features), size)
        return features.contiguous(), logits


def build_small_deeplab(
    num_classes: int = 19,
    *,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    bottleneck: Sequence[int] = DEFAULT_BOTTLENECK,
    blocks: Sequence[int] = (1, 2, 2, 2),
    aspp_channels: int = 48,
    aspp_rates: Sequence[int] = (2, 4, 6),
    fine_channels: int = 24,
    decoder_channels: int = 64,
    final_channels: int = 48,
    generator: torch.Generator | None = None,
) -> SmallDeepLabV3Plus:
    """Build the small DeepLabv3+ with ``num_classes`` output channels.

    Args:
        widths: output channels of mod1..mod5 (mod5 widens from widths[3] to widths[4]).
        bottleneck: the three widths of mod6's bottleneck block (its last is the ASPP input).
        blocks: residual blocks in mod2, mod3, mod4, mod5.
        aspp_channels: channels per ASPP branch (the ASPP outputs 5x as many).
        aspp_rates: dilation rates of the three 3x3 ASPP branches, in feature pixels at
            stride 8 (a 16x32 map at 128x256, so smaller than the reference's 12/24/36).
        fine_channels: output of ``bot_fine`` (the low-level skip from mod2, stride 2).
        decoder_channels: output of ``bot_aspp``.
        final_channels: width of the two 3x3 convs of ``final`` (the penultimate features).
        generator: seeds the Kaiming-normal initialisation (global RNG when None).
    """
    widths, bottleneck, blocks, aspp_rates = tuple(widths), tuple(bottleneck), tuple(blocks), tuple(aspp_rates)
    if len(widths) != 5:
        raise ValueError(f"widths must list 5 channel counts (mod1..mod5), got {widths}")
    if len(bottleneck) != 3:
        raise ValueError(f"bottleneck must list 3 channel counts, got {bottleneck}")
    if len(blocks) != 4 or min(blocks) < 1:
        raise ValueError(f"blocks must list 4 positive block counts (mod2..mod5), got {blocks}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return SmallDeepLabV3Plus(
        num_classes,
        widths=widths,
        bottleneck=bottleneck,
        blocks=blocks,
        aspp_channels=aspp_channels,
        aspp_rates=aspp_rates,
        fine_channels=fine_channels,
        decoder_channels=decoder_channels,
        final_channels=final_channels,
        generator=generator,
    )
