"""Inlier free energy, the adaptive abstention penalty, Gaussian smoothing, the anomaly score.

Notation (paper §3): logits ``f`` (N, Y+1, H, W); the inlier free energy of a pixel is
``E = -logsumexp(f[:, :Y])`` — the abstention channel ``Y`` never enters it. The adaptive
penalty of PAL is ``a = (-E)^2`` (paper eq. 3). At inference the anomaly score is ``E``
smoothed by a 7x7 Gaussian with sigma 1 (higher = more anomalous).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def inlier_energy(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``E = -logsumexp(logits[:, :Y], dim=1)``.

    Shape: logits (N, C, H, W) with C >= Y -> (N, H, W).
    """
    if logits.dim() != 4:
        raise ValueError(f"logits must be (N, C, H, W), got shape {tuple(logits.shape)}")
    if logits.shape[1] < num_classes:
        raise ValueError(f"logits have {logits.shape[1]} channels, fewer than num_classes={num_classes}")
    return -torch.logsumexp(logits[:, :num_classes], dim=1)


def abstention_penalty(energy: torch.Tensor) -> torch.Tensor:
    """Adaptive penalty ``a = (-E)^2`` of paper eq. 3 (same shape as ``energy``)."""
    return energy.pow(2)


def gaussian_kernel1d(kernel_size: int, sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian over ``kernel_size`` taps centred on 0."""
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size, dtype=dtype, device=device)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    return pdf / pdf.sum()


def gaussian_smooth(x: torch.Tensor, kernel_size: int = 7, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian blur of each 2-D map, with reflect borders that do not repeat the edge pixel.

    The semantics of torchvision's ``GaussianBlur(kernel_size, sigma)`` on a tensor: the 2-D
    kernel is the outer product of two normalised 1-D Gaussians, the border is padded by
    ``kernel_size // 2`` in ``reflect`` mode (``d c b | a b c d | c b a``).

    Shape: (H, W), (N, H, W) or (N, C, H, W) -> same shape. Each map needs H, W > kernel_size // 2.
    """
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"expected (H, W), (N, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")
    pad = kernel_size // 2
    if min(x.shape[-2:]) <= pad:
        raise ValueError(
            f"maps of size {tuple(x.shape[-2:])} are too small for a {kernel_size}x{kernel_size} "
            f"reflect-padded blur: both sides must exceed {pad}"
        )
    shape = x.shape
    dtype = x.dtype if x.is_floating_point() else torch.float32
    maps = x.reshape(1, -1, shape[-2], shape[-1]).to(dtype)
    k1 = gaussian_kernel1d(kernel_size, sigma, dtype=dtype, device=x.device)
    kernel = torch.mm(k1[:, None], k1[None, :])
    kernel = kernel.expand(maps.shape[1], 1, kernel_size, kernel_size)
    maps = F.pad(maps, [pad, pad, pad, pad], mode="reflect")
    out = F.conv2d(maps, kernel, groups=maps.shape[1])
    return out.reshape(shape)


def anomaly_score(logits: torch.Tensor, num_classes: int, kernel_size: int = 7, sigma: float = 1.0) -> torch.Tensor:
    """PEBAL's anomaly score: Gaussian-smoothed inlier free energy, higher = more anomalous.

    Shape: logits (N, C, H, W) -> (N, H, W). Computed in float32 whatever the logits' dtype.
    """
    energy = inlier_energy(logits.float(), num_classes)
    if kernel_size <= 1:
        return energy
    return gaussian_smooth(energy, kernel_size, sigma)
