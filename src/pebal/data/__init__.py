"""Data sets (real benchmarks and the embedded synthetic one), AnomalyMix, outlier sources."""

from pebal.data.registry import list_datasets, open_dataset

__all__ = ["list_datasets", "open_dataset"]
