"""``AnomalyMetrics``: the stateful, mergeable form of the pixel metrics.

``update(scores, labels)`` per image or batch, ``compute()`` at the end, ``reset()`` to start
over, ``merge(other)`` to add another state, and ``compute()`` under ``torch.distributed``
combines every process's state so that a split evaluation gives bit-for-bit the
single-process numbers.

Exact mode (default) keeps, per update, the keys of the anomaly and inlier scores (4 bytes per
evaluated pixel for float16/float32 scores, 8 for float64; see :mod:`pebal.metrics.keys`); an
update costs a few ns per pixel (the keys, no sort). ``compute`` turns them into
:class:`~pebal.metrics.counts.PixelCounts` (integer counts, cached until the next update) and
the metrics of :mod:`pebal.metrics.pixel`. Mode "smiyc" keeps SegmentMeIfYouCan's per-frame
percentile bins instead (:mod:`pebal.metrics.binned`).
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX
from pebal.metrics import keys as K
from pebal.metrics.counts import PixelCounts, pixel_counts
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import as_batch, iter_evaluated
from pebal.metrics.pixel import metrics_from_counts

MODES = ("exact", "smiyc")


class AnomalyMetrics:
    """Pixel-level AUROC / AP / FPR95 / best F1 over a stream of score maps.

    Args:
        ignore_index: label of void pixels (not evaluated).
        mode: "exact" (default) or "smiyc" (SMIYC's binned PixBinaryClass, ``num_bins`` bins
            per frame).

    Example::

        m = AnomalyMetrics()
        for scores, labels in loader:      # (N, H, W) or (H, W), numpy or torch
            m.update(scores, labels)
        m.compute()   # {"auroc": ..., "ap": ..., "fpr95": ..., ...}
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, mode: str = "exact", num_bins: int = 768):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
        self.ignore_index = ignore_index
        self.mode = mode
        self.num_bins = num_bins
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self.num_images = 0
        self.bits: int | None = None  # key width of the scores seen so far
        self._pos: list[np.ndarray] = []
        self._neg: list[np.ndarray] = []
        self._cache: PixelCounts | None = None
        self._binned = None
        if self.mode == "smiyc":
            from pebal.metrics.binned import SmiycBinned

            self._binned = SmiycBinned(num_bins=self.num_bins, ignore_index=self.ignore_index)

    # -- accumulation ------------------------------------------------------------------------

    def update(self, scores, labels) -> None:
        """Add (N, H, W) or (H, W) score maps and their labels (0 / 1 / ignore_index).

        Raises :class:`~pebal.metrics.errors.MetricInputError` naming the image on bad input;
        nothing of a rejected update is kept.
        """
        if self._binned is not None:
            self._binned.update(scores, labels, first_image=self.num_images)
            self.num_images = self._binned.num_images
            return
        s, lab = as_batch(scores, labels)
        bits = K.key_bits_for(s.dtype)
        pos, neg = [], []
        for _, p, n in iter_evaluated(s, lab, self.ignore_index, first_image=self.num_images):
            if p.size:
                pos.append(K.to_keys(p))
            if n.size:
                neg.append(K.to_keys(n))
        self._add_keys(pos, neg, bits)
        self.num_images += s.shape[0]

    def _add_keys(self, pos: list[np.ndarray], neg: list[np.ndarray], bits: int) -> None:
        if self.bits is None or bits == self.bits:
            self.bits = bits if self.bits is None else self.bits
        elif bits > self.bits:  # float64 after float32: widen what is stored (exact)
            self._pos = [K.widen_keys(k) for k in self._pos]
            self._neg = [K.widen_keys(k) for k in self._neg]
            self.bits = bits
        else:  # float32 after float64
            pos = [K.widen_keys(k) for k in pos]
            neg = [K.widen_keys(k) for k in neg]
        self._pos.extend(pos)
        self._neg.extend(neg)
        self._cache = None

    def merge(self, other: AnomalyMetrics) -> AnomalyMetrics:
        """Add ``other``'s state to this one (exact; ``other`` is left unchanged)."""
        if other.mode != self.mode or other.ignore_index != self.ignore_index:
            raise ValueError(
                f"cannot merge a {other.mode!r} state (ignore_index={other.ignore_index}) into a "
                f"{self.mode!r} state (ignore_index={self.ignore_index})"
            )
        if self._binned is not None:
            self._binned.merge(other._binned)
        elif other.bits is not None:
            self._add_keys(list(other._pos), list(other._neg), other.bits)
        self.num_images += other.num_images
        return self

    # -- results -----------------------------------------------------------------------------

    @property
    def num_positive(self) -> int:
        return int(sum(k.size for k in self._pos))

    @property
    def num_negative(self) -> int:
        return int(sum(k.size for k in self._neg))

    def counts(self, sync: bool | None = None, group=None) -> PixelCounts:
        """Exact :class:`PixelCounts` of everything seen (all processes when synchronised).

        ``sync``: None = combine across processes when ``torch.distributed`` is initialised with
        more than one process; True / False force it. Every process must call it together.
        """
        if self._binned is not None:
            raise ValueError("counts() needs mode='exact'")
        from pebal.metrics import distributed

        if sync is None:
            sync = distributed.is_distributed()
        if sync:
            return distributed.gather_pixel_counts(self._pos, self._neg, self.bits, group=group)
        if self._cache is None:
            if self.bits is None:
                raise MissingClassError(0, 0)
            self._cache = pixel_counts(self._pos, self._neg, self.bits)
        return self._cache

    def compute(self, sync: bool | None = None, group=None) -> dict:
        """The metrics of :func:`pebal.metrics.pixel.pixel_metrics` over all updates.

        Raises :class:`~pebal.metrics.errors.MissingClassError` without anomaly or inlier pixels.
        """
        if self._binned is not None:
            return self._binned.compute(sync=sync, group=group)
        return metrics_from_counts(self.counts(sync=sync, group=group))

    def curves(self, max_points: int = 512, sync: bool | None = None, group=None) -> dict:
        """ROC and PR curves, decimated to about ``max_points`` points each (see
        :func:`pebal.metrics.curves.curves_from_counts`)."""
        from pebal.metrics.curves import curves_from_counts

        return curves_from_counts(self.counts(sync=sync, group=group), max_points=max_points)
