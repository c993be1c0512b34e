"""Energy-based terms: the hinge losses of paper eqs. 6-7 and the regularisers of eq. 8.

``E`` is the inlier free energy (N, H, W); inlier pixels are pushed below ``m_in``
(``max(0, E - m_in)^2``), outlier pixels above ``m_out`` (``max(0, m_out - E)^2``).
Two forms of the regularisers exist and both are here:

* the paper's (eq. 8): smoothness ``|E_w - E_N(w)|`` over horizontal and vertical
  neighbours, sparsity ``|E_w|``;
* the reference implementation's: smoothness as a *sum of squared* neighbour differences
  halved, over the whole batch, and sparsity as the *L2 norm* of the outlier energies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Energy margins of the paper (§4.2) and the reference implementation.
M_IN = -12.0
M_OUT = -6.0


def inlier_hinge(energy: torch.Tensor, m_in: float = M_IN) -> torch.Tensor:
    """``max(0, E - m_in)^2`` elementwise."""
    return F.relu(energy - m_in).pow(2)


def outlier_hinge(energy: torch.Tensor, m_out: float = M_OUT) -> torch.Tensor:
    """``max(0, m_out - E)^2`` elementwise."""
    return F.relu(m_out - energy).pow(2)


def smoothness_squared_sum(energy: torch.Tensor) -> torch.Tensor:
    """Reference smoothness: ``(sum (E[h+1,w]-E[h,w])^2 + sum (E[h,w+1]-E[h,w])^2) / 2``.

    Summed (not averaged) over the whole batch, void pixels included; the last row and
    column difference with themselves, i.e. contribute zero. Shape: (N, H, W) -> scalar.
    """
    dh = energy[:, 1:, :] - energy[:, :-1, :]
    dw = energy[:, :, 1:] - energy[:, :, :-1]
    return (dh.pow(2).sum() + dw.pow(2).sum()) / 2


def smoothness_abs_sum(energy: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Paper smoothness (eq. 8): ``sum |E_w - E_N(w)|`` over horizontal and vertical
    neighbour pairs whose two pixels are both valid. Shape: (N, H, W), bool (N, H, W) -> scalar.
    """
    dh = (energy[:, 1:, :] - energy[:, :-1, :]).abs() * (valid[:, 1:, :] & valid[:, :-1, :])
    dw = (energy[:, :, 1:] - energy[:, :, :-1]).abs() * (valid[:, :, 1:] & valid[:, :, :-1])
    return dh.sum() + dw.sum()


def mean_or_zero(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of ``values``, or a graph-connected zero when there are none (never NaN)."""
    if values.numel() == 0:
        return like.sum() * 0.0
    return values.mean()
