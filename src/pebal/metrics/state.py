"""``AnomalyMetrics``: the stateful, mergeable form of the pixel metrics.

``update(scores, labels)`` per image or batch, ``compute()`` at the end, ``reset()`` to start
over, ``merge(other)`` to add another state, and ``compute()`` under ``torch.distributed``
combines every process's state so that a split evaluation gives bit-for-bit the
single-process numbers.

Exact mode (default) keeps the multiset of (score, class) pairs in bounded memory
(:mod:`pebal.metrics.store`): for float32 / float16 scores at most ~4 bytes per evaluated pixel,
and no more than one counter per float32 value in the data's range once it is covered (a
compiled pass extracts the keys, :mod:`pebal.metrics.kernels`); float64 scores keep 8-byte
keys. ``compute`` turns the state into
:class:`~pebal.metrics.counts.PixelCounts` (integer counts, cached until the next update) and the
metrics of :mod:`pebal.metrics.pixel`. Mode "smiyc" keeps SegmentMeIfYouCan's per-frame
percentile bins instead (:mod:`pebal.metrics.binned`).
"""

from __future__ import annotations

import numpy as np

from pebal.labels import IGNORE_INDEX
from pebal.metrics import keys as K
from pebal.metrics.counts import PixelCounts
from pebal.metrics.errors import MissingClassError
from pebal.metrics.inputs import as_batch, iter_evaluated
from pebal.metrics.pixel import metrics_from_counts
from pebal.metrics.store import KeyStore, WideStore

MODES = ("exact", "smiyc")


def scan_float32(s: np.ndarray, lab: np.ndarray, ignore_index: int, first_image: int):
    """(anomaly keys, inlier keys) lists of float32 maps, or None when the labels do not fit in
    uint8 (the numpy path then reports them). Raises MetricInputError naming a bad image."""
    from pebal.metrics import fast, kernels

    lab8 = fast.as_uint8_labels(lab)
    if lab8 is None:
        return None
    ignore = fast.kernel_ignore(ignore_index)
    pos, neg = [], []
    for i, bits, labels in fast.flat_pieces(s, lab8):
        p_buf, n_buf = np.empty(bits.size, np.uint32), np.empty(bits.size, np.uint32)
        n_pos, n_neg, bad = kernels.split_keys(bits, labels, ignore, p_buf, n_buf)
        if bad >= 0:
            fast.raise_bad(s, lab8, i, ignore_index, first_image)
        pos.append(p_buf[:n_pos].copy())
        # a view keeps the whole buffer: copy unless the inliers fill most of it
        neg.append(n_buf[:n_neg] if 10 * n_neg >= 9 * n_buf.size else n_buf[:n_neg].copy())
    return pos, neg


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
        self._store: KeyStore | WideStore | None = None
        self._cache: PixelCounts | None = None
        self._binned = None
        if self.mode == "smiyc":
            from pebal.metrics.binned import SmiycBinned

            self._binned = SmiycBinned(num_bins=self.num_bins, ignore_index=self.ignore_index)

    @property
    def bits(self) -> int | None:
        """Key width of the scores seen so far (32 or 64), None before the first update."""
        return None if self._store is None else self._store.bits

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
        keys = scan_float32(s, lab, self.ignore_index, self.num_images) if s.dtype == np.float32 else None
        if keys is None:
            keys = self._scan_numpy(s, lab)
        bits = K.key_bits_for(s.dtype)
        if self._store is None:
            self._store = KeyStore() if bits == 32 else WideStore()
        elif bits > self._store.bits:  # float64 after float32: widen what is stored (exact)
            self._store = self._store.to_wide()
        if bits < self._store.bits:  # float32 after float64
            keys = tuple([K.widen_keys(k) for k in part] for part in keys)
        self._store.add_keys(*keys)
        self._cache = None
        self.num_images += s.shape[0]

    def _scan_numpy(self, s: np.ndarray, lab: np.ndarray):
        pos, neg = [], []
        for _, p, n in iter_evaluated(s, lab, self.ignore_index, first_image=self.num_images):
            pos.append(K.to_keys(p))
            neg.append(K.to_keys(n))
        return pos, neg

    def merge(self, other: AnomalyMetrics) -> AnomalyMetrics:
        """Add ``other``'s state to this one (exact; ``other`` is left unchanged)."""
        if other.mode != self.mode or other.ignore_index != self.ignore_index:
            raise ValueError(
                f"cannot merge a {other.mode!r} state (ignore_index={other.ignore_index}) into a "
                f"{self.mode!r} state (ignore_index={self.ignore_index})"
            )
        if self._binned is not None:
            self._binned.merge(other._binned)
        elif other._store is not None:
            if self._store is None:
                self._store = KeyStore() if other._store.bits == 32 else WideStore()
            if self._store.bits != other._store.bits:
                self._store = self._store.to_wide()
                self._store.merge(other._store.to_wide())
            else:
                self._store.merge(other._store)
            self._cache = None
        self.num_images += other.num_images
        return self

    # -- results -----------------------------------------------------------------------------

    @property
    def num_positive(self) -> int:
        return 0 if self._store is None else self._store.num_positive

    @property
    def num_negative(self) -> int:
        return 0 if self._store is None else self._store.num_negative

    def state_bytes(self) -> int:
        """Bytes the exact state holds now (see :mod:`pebal.metrics.store`)."""
        return 0 if self._store is None else self._store.nbytes()

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
            return distributed.gather_pixel_counts(self._store, group=group)
        if self._cache is None:
            if self._store is None:
                raise MissingClassError(0, 0)
            self._cache = self._store.counts()
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
