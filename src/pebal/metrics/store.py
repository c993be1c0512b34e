"""The exact streaming state behind :class:`~pebal.metrics.state.AnomalyMetrics`, in bounded memory.

Every exact pixel metric is a function of the multiset of (score, class) pairs, and of nothing
else; two pixels with the same score and class are interchangeable. :class:`KeyStore` keeps that
multiset for float32 (and float16) scores, as integer keys (:mod:`pebal.metrics.keys`):

* anomaly keys (1-2 % of the pixels): sorted distinct keys with their counts, merged as they come;
* inlier keys: a *dense page* for each range of ``PAGE = 4096`` consecutive keys that received at
  least ``PAGE`` inliers (one uint32 counter per key: 16 KB, no more than the raw keys it
  replaces), and the other inlier keys raw (4 bytes each) until their page fills up.

Raw keys are folded into pages in bulk (:meth:`KeyStore.compact`) whenever the raw part has
doubled since the last fold (and holds at least 4 M keys), so each key is folded O(1) times.
Memory is therefore at most about 4 bytes per evaluated pixel (today's raw keys), and it stops
growing once the score range is covered: a data set of float32 energies in [-20, -2] needs at
most ~1.7e7 counters (68 MB) however many pixels it has. Counters are uint32 until 2**32
inliers have been seen, then int64.

float64 scores use :class:`WideStore` (raw 64-bit keys with optional multiplicities, as before:
8 bytes per pixel), since their distinct values rarely repeat; mixing widens the 32-bit store.

Both stores answer the two questions the metrics (and the distributed merge) ask:
:meth:`positives` (the distinct anomaly keys and counts) and :meth:`bin_negatives` (inliers per
bin of given anomaly keys, the 2U+1 bins of :class:`~pebal.metrics.counts.PixelCounts`).
"""

from __future__ import annotations

import numpy as np

from pebal.metrics import keys as K
from pebal.metrics.counts import PixelCounts, bin_table, unique_counts
from pebal.metrics.keys import NUM_PAGES, PAGE


def _kernels():
    """The compiled loops, imported on first use (numba takes a moment to import)."""
    from pebal.metrics import kernels

    return kernels

#: Raw inlier keys held before the first fold into pages.
MIN_FOLD = 1 << 22
#: Inliers seen after which page counters switch from uint32 to int64.
COUNTER_LIMIT = 2**32 - 1


class KeyStore:
    """Exact multiset of (32-bit key, class) pairs in bounded memory (see the module docstring)."""

    bits = 32

    def __init__(self):
        self.pos_u = np.zeros(0, np.uint32)
        self.pos_c = np.zeros(0, np.int64)
        self.pos_raw: list[np.ndarray] = []
        self.page_slot: np.ndarray | None = None  # page -> slot (int32, -1: none), 4 MB once used
        self.page_ids = np.zeros(0, np.int64)  # page of each slot
        self.dense = np.zeros(0, np.uint32)  # slot * PAGE + key % PAGE -> inlier count
        self.neg_raw: list[np.ndarray] = []
        self.raw_per_page: np.ndarray | None = None  # raw inlier keys per page (int64), once used
        self.counted = 0  # leading arrays of neg_raw already in raw_per_page
        self.folded_size = 0  # raw inlier keys left after the last fold
        self.num_positive = 0
        self.num_negative = 0

    # -- adding ----------------------------------------------------------------------------

    def add_keys(self, pos: list[np.ndarray], neg: list[np.ndarray]) -> None:
        """Add raw anomaly and inlier keys (uint32 arrays, handed over: the store compacts the
        inlier arrays in place)."""
        self.pos_raw.extend(p for p in pos if p.size)
        self.neg_raw.extend(n for n in neg if n.size)
        self.num_positive += sum(int(p.size) for p in pos)
        self.num_negative += sum(int(n.size) for n in neg)
        if sum(p.size for p in self.pos_raw) > max(1 << 20, self.pos_u.size):
            self._fold_positives()
        if self.raw_negatives >= max(MIN_FOLD, 2 * self.folded_size):
            self.compact()

    @property
    def raw_negatives(self) -> int:
        return int(sum(n.size for n in self.neg_raw))

    def _fold_positives(self) -> None:
        if self.pos_raw:
            u, c = unique_counts(self.pos_raw, 32)
            self.pos_u, self.pos_c = unique_counts([self.pos_u, u], 32, weights=[self.pos_c, c])
            self.pos_raw = []

    def compact(self) -> None:
        """Fold raw inlier keys into pages: pages reaching PAGE raw keys get a slot, every key of
        a page with a slot is counted there, the others stay raw (anomaly keys are merged too)."""
        self._fold_positives()
        if not self.neg_raw:
            return
        self._tables()
        for keys in self.neg_raw[self.counted :]:  # only keys not counted at an earlier fold
            _kernels().count_pages(keys, self.raw_per_page)
        self._alloc(np.flatnonzero((self.raw_per_page >= PAGE) & (self.page_slot < 0)))
        if self.dense.dtype == np.uint32 and self.num_negative >= COUNTER_LIMIT:
            self.dense = self.dense.astype(np.int64)  # a counter could overflow from now on
        if self.raw_per_page[self.page_ids].any():  # raw keys of pages with a slot: move them
            kept = []
            for keys in self.neg_raw:  # each array is owned by this store: compacted in place
                m = _kernels().move_to_pages(keys, self.page_slot, self.dense)
                if m:
                    kept.append(keys[:m] if 2 * m >= keys.size else keys[:m].copy())
            self.neg_raw = kept
            self.raw_per_page[self.page_ids] = 0
        self.counted = len(self.neg_raw)
        self.folded_size = self.raw_negatives

    def _tables(self) -> None:
        if self.page_slot is None:  # 4 MB + 8 MB, once
            self.page_slot = np.full(NUM_PAGES, -1, np.int32)
            self.raw_per_page = np.zeros(NUM_PAGES, np.int64)

    def _alloc(self, pages: np.ndarray) -> np.ndarray:
        """Slots for ``pages`` (those without one); returns the slot of every page given."""
        new = pages[self.page_slot[pages] < 0]
        if new.size:
            used = self.page_ids.size
            need = (used + new.size) * PAGE
            if need > self.dense.size:
                size = max(need, -(-int(self.dense.size * 1.25) // PAGE) * PAGE)  # whole pages
                grown = np.zeros(size, self.dense.dtype)
                grown[: used * PAGE] = self.dense[: used * PAGE]
                self.dense = grown
            self.page_slot[new] = np.arange(used, used + new.size, dtype=np.int32)
            self.page_ids = np.concatenate([self.page_ids, new.astype(np.int64)])
        return self.page_slot[pages].astype(np.int64)

    def merge(self, other: KeyStore) -> None:
        """Add ``other``'s multiset (``other`` is left unchanged)."""
        self._fold_positives()
        other_u, other_c = other.positives()
        self.pos_u, self.pos_c = unique_counts([self.pos_u, other_u], 32, weights=[self.pos_c, other_c])
        self.num_positive += other.num_positive
        self.num_negative += other.num_negative
        if other.page_ids.size:
            self._tables()
            mine = self._alloc(other.page_ids)
            if other.dense.dtype != self.dense.dtype or self.num_negative >= COUNTER_LIMIT:
                self.dense = self.dense.astype(np.int64)
            rows = self.dense.reshape(-1, PAGE)
            rows[mine] += other.dense.reshape(-1, PAGE)[: other.page_ids.size].astype(self.dense.dtype)
        self.neg_raw.extend(k.copy() for k in other.neg_raw)  # owned copies, counted at the next fold
        if self.raw_negatives >= max(MIN_FOLD, 2 * self.folded_size):
            self.compact()

    # -- reading ---------------------------------------------------------------------------

    def positives(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct anomaly keys (ascending, uint32) and their counts (int64)."""
        self._fold_positives()
        return self.pos_u, self.pos_c

    def _pages_in_order(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.page_ids)
        return self.page_ids[order], order.astype(np.int64)

    def bin_negatives(self, u: np.ndarray) -> np.ndarray:
        """Inliers per bin of the sorted distinct keys ``u``: (2U+1,) int64."""
        u = np.asarray(u, dtype=np.uint32)
        counts = np.zeros(2 * u.size + 1, np.int64)
        if self.page_ids.size:
            pages, slots = self._pages_in_order()
            _kernels().bin_pages(pages, slots, self.dense, u, counts)
        if self.neg_raw:
            table = bin_table(u)
            for keys in self.neg_raw:
                _kernels().count_keys(keys, u, *table, counts)
        return counts

    def counts(self) -> PixelCounts:
        u, c = self.positives()
        return PixelCounts(keys=u, positives=c, negatives=self.bin_negatives(u), bits=32)

    def nbytes(self) -> int:
        """Bytes held by the state (page table, counters, raw keys, anomaly keys)."""
        total = self.dense.nbytes + self.page_ids.nbytes + self.pos_u.nbytes + self.pos_c.nbytes
        total += 0 if self.page_slot is None else self.page_slot.nbytes + self.raw_per_page.nbytes
        return int(total + sum(a.nbytes for a in self.neg_raw) + sum(a.nbytes for a in self.pos_raw))

    def to_wide(self) -> WideStore:
        """The same multiset with 64-bit keys (for float64 scores; exact)."""
        wide = WideStore()
        u, c = self.positives()
        wide.pos.append((K.widen_keys(u), c))
        if self.page_ids.size:
            pages, slots = self._pages_in_order()
            keys = np.empty(pages.size * PAGE, np.uint32)
            cnt = np.empty(pages.size * PAGE, np.int64)
            m = _kernels().page_keys(pages, slots, self.dense, keys, cnt)
            wide.neg.append((K.widen_keys(keys[:m]), cnt[:m]))
        wide.neg.extend((K.widen_keys(k), None) for k in self.neg_raw)
        wide.num_positive, wide.num_negative = self.num_positive, self.num_negative
        return wide


class WideStore:
    """Exact multiset of 64-bit keys: lists of (keys, counts or None) per class."""

    bits = 64

    def __init__(self):
        self.pos: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.neg: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.num_positive = 0
        self.num_negative = 0

    def add_keys(self, pos: list[np.ndarray], neg: list[np.ndarray]) -> None:
        self.pos.extend((p, None) for p in pos if p.size)
        self.neg.extend((n, None) for n in neg if n.size)
        self.num_positive += sum(int(p.size) for p in pos)
        self.num_negative += sum(int(n.size) for n in neg)

    def merge(self, other: WideStore) -> None:
        self.pos.extend(other.pos)
        self.neg.extend(other.neg)
        self.num_positive += other.num_positive
        self.num_negative += other.num_negative

    def positives(self) -> tuple[np.ndarray, np.ndarray]:
        keys = [k for k, _ in self.pos]
        weights = [np.ones(k.size, np.int64) if w is None else w for k, w in self.pos]
        return unique_counts(keys, 64, weights=weights)

    def bin_negatives(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.uint64)
        counts = np.zeros(2 * u.size + 1, np.int64)
        for keys, w in self.neg:
            b = np.searchsorted(u, keys, "left") + np.searchsorted(u, keys, "right")
            if w is None:
                counts += np.bincount(b, minlength=counts.size)
            else:  # float64 weights are exact below 2**53 per bin
                counts += np.bincount(b, weights=w, minlength=counts.size).astype(np.int64)
        return counts

    def counts(self) -> PixelCounts:
        u, c = self.positives()
        return PixelCounts(keys=u, positives=c, negatives=self.bin_negatives(u), bits=64)

    def nbytes(self) -> int:
        return int(sum(k.nbytes + (0 if w is None else w.nbytes) for k, w in self.pos + self.neg))

    def to_wide(self) -> WideStore:
        return self
