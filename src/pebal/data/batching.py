"""Batches of data-set items for inference passes (evaluation, statistics fitting, calibration)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def batches(dataset, batch_size: int, indices: Iterable[int]) -> Iterator[list[dict]]:
    """Consecutive items grouped into batches of equal image size (sizes may vary in real data)."""
    batch: list[dict] = []
    for i in indices:
        item = dataset[i]
        if batch and (len(batch) == batch_size or item["image"].shape != batch[0]["image"].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch
