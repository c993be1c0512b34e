"""Combining metric states across ``torch.distributed`` processes, exactly.

Exact pixel counts (:func:`gather_pixel_counts`), in three collective steps:

1. the key width (32 or 64 bits) is agreed with an all-reduce MAX (float64 anywhere wins);
2. every process's distinct anomaly keys with their counts are all-gathered and merged, so
   every process holds the same sorted keys ``u`` and counts;
3. every process counts its own inliers (:meth:`~pebal.metrics.store.KeyStore.bin_negatives`)
   into the 2U+1 bins of ``u`` and the bins are all-reduced with SUM (int64: exact).

Only the anomaly scores (~1-2% of pixels) and 2U+1 integers travel. The result is the same
:class:`~pebal.metrics.counts.PixelCounts` a single process would build from all the data,
so the metrics, a deterministic function of it, agree bit for bit.

Works with any backend; with NCCL the tensors go through the current CUDA device.
"""

from __future__ import annotations

import numpy as np

from pebal.metrics import keys as K
from pebal.metrics.counts import PixelCounts, unique_counts


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _device(group):
    import torch
    import torch.distributed as dist

    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_arrays(array: np.ndarray, group=None) -> list[np.ndarray]:
    """All-gather a 1-D int64-representable array of any length from every process."""
    import torch
    import torch.distributed as dist

    dev = _device(group)
    world = dist.get_world_size(group)
    local = torch.from_numpy(np.ascontiguousarray(array).view(np.int64) if array.dtype == np.uint64
                             else np.ascontiguousarray(array, dtype=np.int64)).to(dev)
    size = torch.tensor([local.numel()], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    longest = max(int(s.item()) for s in sizes)
    padded = torch.zeros(longest, dtype=torch.int64, device=dev)
    padded[: local.numel()] = local
    out = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(out, padded, group=group)
    return [o[: int(s.item())].cpu().numpy() for o, s in zip(out, sizes)]


def all_gather_objects(obj, group=None) -> list:
    """All-gather a picklable object from every process (rank order)."""
    import torch.distributed as dist

    out = [None] * dist.get_world_size(group)
    dist.all_gather_object(out, obj, group=group)
    return out


def gather_pixel_counts(store, group=None) -> PixelCounts:
    """Global exact :class:`PixelCounts` from every process's state
    (:class:`~pebal.metrics.store.KeyStore` / :class:`~pebal.metrics.store.WideStore`, or None
    on a process that saw no data). Every process of ``group`` must call it.
    """
    import torch
    import torch.distributed as dist

    from pebal.metrics.store import KeyStore, WideStore

    dev = _device(group)
    width = torch.tensor([store.bits if store is not None else 0], dtype=torch.int64, device=dev)
    dist.all_reduce(width, op=dist.ReduceOp.MAX, group=group)
    global_bits = int(width.item()) or 32
    if store is None:
        store = KeyStore() if global_bits == 32 else WideStore()
    elif store.bits < global_bits:
        store = store.to_wide()
    udt = K.key_dtype(global_bits)

    u_local, c_local = store.positives()
    keys_all = all_gather_arrays(u_local.astype(udt), group)
    counts_all = all_gather_arrays(c_local, group)
    keys_all = [k.view(np.uint64).astype(udt) if global_bits == 64 else k.astype(udt) for k in keys_all]
    u, c = unique_counts(keys_all, global_bits, weights=counts_all)

    bins = torch.from_numpy(store.bin_negatives(u)).to(dev)
    dist.all_reduce(bins, op=dist.ReduceOp.SUM, group=group)
    return PixelCounts(keys=u, positives=c, negatives=bins.cpu().numpy().astype(np.int64), bits=global_bits)
