"""Several processes under ``torchrun``: the process group, each process's device, and batch
norm whose statistics are those of the whole distributed batch.

Backends: NCCL when the processes run on CUDA devices (process ``LOCAL_RANK`` on
``cuda:LOCAL_RANK``), gloo on CPU. Batch-norm layers in train mode normalise with the
statistics of their batch and update their running statistics from it; with one batch per
process each rank would use only its own samples, so ``torchrun`` with 2 x batch 4 would not
train what one process with batch 8 trains. :func:`synchronise_batch_norm` replaces them:

* NCCL (CUDA): :class:`torch.nn.SyncBatchNorm`.
* gloo (CPU): torch 2.13's ``SyncBatchNorm`` refuses CPU tensors in training ("SyncBatchNorm
  expected input tensor to be on GPU or XPU ..."), so :class:`AllReduceBatchNorm` does the
  same with two differentiable all-reduces per layer (per-channel sum and count, then the
  sum of squared deviations): mean ``m = sum_r S_r / sum_r n_r``, biased variance
  ``v = sum_r Q_r / n`` with ``Q_r = sum over rank r's values of (x - m)^2``; the running
  variance takes the unbiased ``v * n / (n - 1)``, as ``torch.nn.BatchNorm2d`` does.

In eval mode both are plain batch norm (running statistics; nothing is exchanged).
"""

from __future__ import annotations

import gc
import os

import torch
import torch.distributed as dist
from torch import nn


def local_rank() -> int:
    """This process's index on its machine (``LOCAL_RANK`` of torchrun; 0 without it)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed(cuda: bool | None = None) -> tuple[int, int]:
    """Start the process group when launched by ``torchrun`` with more than one process.

    ``cuda``: whether the processes compute on CUDA devices (default: when one is available);
    that picks NCCL (and binds this process to ``cuda:LOCAL_RANK``), else gloo. Returns
    ``(rank, world_size)``; ``(0, 1)`` for a single process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = torch.cuda.is_available() if cuda is None else cuda
        if cuda:
            torch.cuda.set_device(local_rank() % torch.cuda.device_count())
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def process_device(device: torch.device) -> torch.device:
    """``device`` for this process: under NCCL, the process's own GPU ``cuda:LOCAL_RANK``."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    return device


def close_distributed() -> None:
    """Wait for every process, then end the process group (no-op for a single process).

    Objects that still hold the group (a ``DistributedDataParallel`` wrapper caught in a
    reference cycle) are collected first, so the group's threads are not torn down at
    interpreter exit while a peer still talks to them; the barrier keeps one process from
    closing its connections while the other is still receiving the last collective.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; its gradient is again the sum over processes of the gradients,
    i.e. the gradient of the sum of every process's loss (what data-parallel training
    averages)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out


class AllReduceBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the whole distributed batch, for any backend (gloo on CPU included).

    Shape: (N, C, *) -> (N, C, *). Outside training, or with one process, it is
    :class:`torch.nn.BatchNorm2d` (any number of spatial dimensions).
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of shape (N, C, ...), got {tuple(input.shape)}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        channels = input.shape[1]
        local = torch.cat([input.sum(dims), input.new_full((1,), input.numel() / channels)])
        total = _AllReduceSum.apply(local)
        count = total[-1].detach()
        mean = total[:channels] / count
        centred = input - mean.reshape(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / count
        if self.track_running_stats and self.running_mean is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            n = float(count)
            with torch.no_grad():
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (n / max(n - 1.0, 1.0)), alpha=factor)
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


def _to_all_reduce(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, (AllReduceBatchNorm, nn.SyncBatchNorm)):
        new = AllReduceBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias  # the same Parameters: freezing and optimiser stay valid
        new.running_mean, new.running_var = module.running_mean, module.running_var
        new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _to_all_reduce(child))
    return module


def synchronise_batch_norm(module: nn.Module) -> nn.Module:
    """Replace, in place, every batch-norm layer of ``module`` by one that normalises over the
    whole distributed batch: :class:`torch.nn.SyncBatchNorm` under NCCL, :class:`AllReduceBatchNorm`
    under any other backend. Parameters and buffers are shared with the old layers, so the
    state dict (keys and values) is unchanged. Returns ``module``."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_all_reduce(module)


def count_batch_norm(module: nn.Module, training: bool | None = None) -> int:
    """Batch-norm layers in ``module`` (only those in train / eval mode when ``training`` is set)."""
    return sum(1 for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
               and (training is None or m.training == training))
