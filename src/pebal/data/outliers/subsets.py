"""Seeded subsets of an outlier pool (the paper's Tables 6 and 7).

* :func:`subset_by_class_fraction` keeps a random fraction of the *classes* and every
  sample of those classes (Table 6: how diverse must the outliers be?).
* :func:`subset_by_sample_fraction` / :func:`subset_by_count` keep a random fraction /
  number of *samples* regardless of class (Table 7: how many outliers are needed?).

Counts round half up, ``k = max(1, floor(fraction * n + 0.5))``, so a subset is never
empty. Chosen indices are returned in increasing order so the subset keeps the source's
order. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import numpy as np

from pebal.data.outliers.base import OutlierSource


def _check_fraction(fraction: float) -> float:
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return fraction


def _count(fraction: float, n: int) -> int:
    return max(1, min(n, math.floor(fraction * n + 0.5)))


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def subset_by_class_fraction(source: OutlierSource, fraction: float, rng: np.random.Generator) -> OutlierSource:
    """Keep ``max(1, round(fraction * C))`` of the C classes, chosen at random, with all their samples.

    Raises ``ValueError`` if any sample has no class (class-fraction subsets need every
    sample's class: give the source a class rule or a COCO annotation file).
    """
    fraction = _check_fraction(fraction)
    rng = _check_rng(rng)
    sample_classes = source.sample_classes
    unknown = sum(c is None for c in sample_classes)
    if unknown:
        raise ValueError(
            f"cannot take a class-fraction subset of {source!r}: {unknown} of {len(sample_classes)} samples "
            "have no class; give the source a class rule (e.g. classes='prefix') or, for Meta-OoD masks, "
            "the COCO annotation file"
        )
    classes = sorted(set(sample_classes))
    k = _count(fraction, len(classes))
    chosen = {classes[i] for i in rng.choice(len(classes), size=k, replace=False)}
    indices = [i for i, c in enumerate(sample_classes) if c in chosen]
    return source.subset(indices)


def subset_by_count(source: OutlierSource, count: int, rng: np.random.Generator) -> OutlierSource:
    """Keep ``count`` samples drawn without replacement."""
    rng = _check_rng(rng)
    n = len(source)
    if isinstance(count, bool) or int(count) != count or not 1 <= count <= n:
        raise ValueError(f"count must be an integer in [1, {n}] (the pool size), got {count!r}")
    indices = np.sort(rng.choice(n, size=int(count), replace=False))
    return source.subset(indices.tolist())


def subset_by_sample_fraction(source: OutlierSource, fraction: float, rng: np.random.Generator) -> OutlierSource:
    """Keep ``max(1, round(fraction * N))`` of the N samples, drawn without replacement."""
    fraction = _check_fraction(fraction)
    return subset_by_count(source, _count(fraction, len(source)), rng)
