"""The exact sufficient statistic of the pixel metrics, and how it is computed.

Every exact pixel metric (AUROC, AP, FPR95 under either rule, the ROC and PR curves, the
operating points) is a function of the scores of the anomaly pixels and, for each of them,
of how many inlier pixels score below and equal. :class:`PixelCounts` stores exactly that:

    keys[j]          the U distinct anomaly scores, ascending, as order-preserving integer keys
    positives[j]     number of anomaly pixels scoring keys[j]
    negatives[2j+1]  number of inlier pixels scoring exactly keys[j]
    negatives[2j]    number of inlier pixels strictly between keys[j-1] and keys[j]
                     (negatives[0]: below keys[0]; negatives[2U]: above keys[U-1])

Inlier pixels between two anomaly scores can be lumped because no metric threshold worth
taking lies strictly between two anomaly scores (a threshold only changes the TPR at an
anomaly score). All counts are int64: they add exactly across images and processes, and the
metrics are a deterministic function of them, so a split evaluation gives bit-for-bit the
single-process numbers.

Counting the inliers into the 2U+1 bins is the expensive step (98% of the pixels). A sort
costs ~40 ns per pixel on the reference machine; instead an adaptive lookup table on the key's
bits (:class:`NegativeBinner`) gives each inlier the number of anomaly keys below its bucket
and the one anomaly key that may share the bucket, so two comparisons finish the job for most
inliers (~15-25 ns per pixel, no sort of the inliers at all).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pebal.metrics import keys as K
from pebal.metrics.errors import MissingClassError

#: Sub-buckets per anomaly key in the lookup table (between _DENSITY and 2 * _DENSITY; 8 bytes each).
_DENSITY = 2
#: Candidates compared per key in crowded sub-buckets before falling back to binary search.
_MAX_CANDIDATES = 4
#: Keys whose bins are gathered before one bincount.
_FLUSH = 1 << 23
_STEP = 1 << 20


@dataclass(frozen=True)
class PixelCounts:
    """Exact counts behind every pixel metric (see the module docstring).

    Shapes: keys (U,) uint32/uint64 ascending distinct; positives (U,) int64 >= 1;
    negatives (2U+1,) int64. ``bits`` is the key width (32 for float32 scores, 64 for float64).
    """

    keys: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    bits: int

    @property
    def num_positive(self) -> int:
        return int(self.positives.sum())

    @property
    def num_negative(self) -> int:
        return int(self.negatives.sum())

    @property
    def thresholds(self) -> np.ndarray:
        """The distinct anomaly scores as floats (float32 or float64), ascending."""
        return K.from_keys(self.keys, self.bits)

    def require_both_classes(self, what: str = "AUROC, AP and FPR95") -> None:
        if self.keys.size == 0 or self.num_negative == 0:
            raise MissingClassError(self.num_positive, self.num_negative, what)

    def cumulative(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per anomaly key j, as int64 arrays (U,):

        ``tp[j]`` anomaly pixels scoring >= keys[j]; ``below[j]`` inliers scoring < keys[j];
        ``equal[j]`` inliers scoring == keys[j]; ``fp[j] = N - below[j]`` inliers >= keys[j].
        """
        p = self.positives
        tp = np.cumsum(p[::-1])[::-1]
        csum = np.cumsum(self.negatives)
        below = csum[0::2][: p.size]
        equal = self.negatives[1::2]
        fp = int(csum[-1]) - below
        return tp, below, equal, fp


def unique_counts(key_arrays: Iterable[np.ndarray], bits: int, weights: Iterable[np.ndarray] | None = None):
    """Distinct keys (ascending) and their multiplicities over several key arrays.

    ``weights``: optional int64 multiplicity of each key (one array per key array), e.g. when
    merging (keys, counts) pairs from several processes. Returns (keys (U,), counts (U,) int64).
    """
    udt = K.key_dtype(bits)
    arrays = [np.asarray(a, dtype=udt).reshape(-1) for a in key_arrays]
    if not arrays or sum(a.size for a in arrays) == 0:
        return np.zeros(0, udt), np.zeros(0, np.int64)
    allk = np.concatenate(arrays)
    if weights is None:
        u, c = np.unique(allk, return_counts=True)
        return u, c.astype(np.int64)
    w = np.concatenate([np.asarray(c, dtype=np.int64).reshape(-1) for c in weights])
    order = np.argsort(allk, kind="stable")
    sk = allk[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
    return sk[starts], np.add.reduceat(w[order], starts).astype(np.int64)


class NegativeBinner:
    """Counts keys into the 2U+1 bins defined by sorted distinct keys ``u`` (see module doc).

    ``bin(x) = #(u < x) + #(u <= x)``: even bins lie between anomaly keys, odd bins on them.

    Lookup table, two levels: the top 16 bits of a key pick a coarse bucket (for float32: sign,
    exponent and 7 mantissa bits); each coarse bucket is cut into ``2^s`` equal sub-buckets,
    with ``s`` large enough for at most ``1/_DENSITY`` anomaly keys per sub-bucket on average,
    so that the resolution follows where the anomaly scores are. A sub-bucket stores
    ``first`` (the number of anomaly keys below it); a key ``x`` in it has
    ``bin = 2 first + sum_k [(x >= u[first+k]) + (x > u[first+k])]`` over the anomaly keys in
    the sub-bucket: one candidate for most keys, a few more for the keys of crowded
    sub-buckets, and a binary search beyond ``_MAX_CANDIDATES``.

    Call :meth:`add` with key arrays, then read :attr:`counts` after :meth:`finish`.
    """

    def __init__(self, u: np.ndarray, bits: int):
        udt = K.key_dtype(bits)
        self.u = np.asarray(u, dtype=udt)
        self.bits = bits
        self.nbins = 2 * self.u.size + 1
        self.counts = np.zeros(self.nbins, np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        if self.u.size == 0:
            return
        low_bits = bits - 16
        self.top_shift = udt(low_bits)
        self.low_mask = udt((1 << low_bits) - 1)
        n_top = np.bincount((self.u >> self.top_shift).astype(np.intp), minlength=1 << 16)
        sub = np.zeros(1 << 16, np.int64)
        busy = n_top > 0
        sub[busy] = np.ceil(np.log2(n_top[busy] * _DENSITY)).astype(np.int64)
        np.clip(sub, 0, min(low_bits, 26), out=sub)
        self.sub_shift = (low_bits - sub).astype(udt)
        self.offset = np.zeros(1 << 16, np.intp)
        np.cumsum((1 << sub)[:-1], out=self.offset[1:])
        m = int(self.offset[-1] + (1 << int(sub[-1])))
        per_bucket = np.bincount(self._index(self.u), minlength=m + 1)
        # first[b]: anomaly keys in sub-buckets < b = index of the first key >= b's start
        first = np.cumsum(per_bucket)
        first -= per_bucket
        self.crowded = bool((per_bucket > 1).any())
        sentinel = np.iinfo(udt).max  # above every finite score's key
        self.u_padded = np.concatenate([self.u, np.full(_MAX_CANDIDATES + 1, sentinel, udt)])
        self.index_dtype = np.int32 if self.nbins < 2**31 else np.int64
        self.packed = bits == 32 and self.nbins < 2**31 and sys.byteorder == "little"
        if self.packed:
            # one 8-byte entry per sub-bucket, one random memory access per key:
            # low word 2*first, bit 31 set when the sub-bucket holds several anomaly keys;
            # high word the first candidate u[first]
            table = self.u_padded[first].astype(np.uint64)
            table <<= np.uint64(32)
            table |= (2 * first).astype(np.uint64)
            table[per_bucket > 1] |= np.uint64(1 << 31)
            self.table = table
        else:
            self.first = first
            self.per_bucket = per_bucket

    def _index(self, x: np.ndarray) -> np.ndarray:
        top = (x >> self.top_shift).astype(np.intp)
        low = np.take(self.sub_shift, top)
        np.right_shift(x & self.low_mask, low, out=low)
        idx = np.take(self.offset, top)
        idx += low.astype(np.intp, copy=False)
        return idx

    def add(self, x: np.ndarray) -> None:
        """Count the keys ``x`` (1-D, same width) into the bins."""
        if self.u.size == 0:
            self.counts[0] += x.size
            return
        for start in range(0, x.size, _STEP):
            self._pending.append(self._bins(x[start : start + _STEP]))
            self._pending_size += self._pending[-1].size
            if self._pending_size >= _FLUSH:
                self._flush()

    def finish(self) -> np.ndarray:
        """Fold pending bins into :attr:`counts` and return it, shape (2U+1,) int64."""
        self._flush()
        return self.counts

    def _flush(self) -> None:
        # one bincount per ~_FLUSH keys: its (2U+1)-long result is allocated far less often
        if self._pending:
            self.counts += np.bincount(np.concatenate(self._pending), minlength=self.nbins)
        self._pending, self._pending_size = [], 0

    def _bins(self, x: np.ndarray) -> np.ndarray:
        b = self._index(x)
        if self.packed:
            entry = np.take(self.table, b).view(np.uint32).reshape(-1, 2)
            bins = entry[:, 0] & np.uint32(0x7FFFFFFF)
            cand = entry[:, 1]
            crowded = entry[:, 0] >= np.uint32(1 << 31) if self.crowded else None
        else:
            first = np.take(self.first, b)
            cand = np.take(self.u_padded, first)
            bins = (2 * first).astype(self.index_dtype)
            crowded = np.take(self.per_bucket, b) > 1 if self.crowded else None
        bins += x >= cand
        bins += x > cand
        if crowded is not None and crowded.any():
            where = np.flatnonzero(crowded)
            bins[where] = self._crowded_bins(x[where], b[where])
        return bins.astype(self.index_dtype, copy=False)

    def _crowded_bins(self, x: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact bins of keys in sub-buckets holding two or more anomaly keys."""
        if self.packed:
            first = (np.take(self.table, b) & np.uint64(0x7FFFFFFF)).astype(np.intp) >> 1
            after = (np.take(self.table, b + 1) & np.uint64(0x7FFFFFFF)).astype(np.intp) >> 1
        else:
            first, after = np.take(self.first, b), np.take(self.first, b + 1)
        many = (after - first) > _MAX_CANDIDATES
        bins = 2 * first
        for k in range(_MAX_CANDIDATES):
            # u_padded[first + k] beyond this sub-bucket's keys exceeds every key in it
            c = np.take(self.u_padded, first + k)
            bins += x >= c
            bins += x > c
        if many.any():
            xm = x[many]
            bins[many] = np.searchsorted(self.u, xm, "left") + np.searchsorted(self.u, xm, "right")
        return bins


def bin_table(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lookup table of :class:`NegativeBinner` for sorted distinct 32-bit keys ``u``, as the
    four arrays the compiled loops of :mod:`pebal.metrics.kernels` read:

    ``sub_shift[top]`` (uint32) and ``offset[top]`` (int64) for each of the 2**16 values of the
    key's top 16 bits, so that the sub-bucket of ``x`` is
    ``offset[x >> 16] + ((x & 0xFFFF) >> sub_shift[x >> 16])``; ``first[b]`` (int64, one more
    than the sub-buckets) = the number of keys of ``u`` below sub-bucket ``b``; ``packed``
    (:func:`pebal.metrics.kernels.packed_table`), one uint64 per sub-bucket.
    """
    u = np.asarray(u, dtype=np.uint32)
    n_top = np.bincount((u >> np.uint32(16)).astype(np.intp), minlength=1 << 16)
    sub = np.zeros(1 << 16, np.int64)
    busy = n_top > 0
    sub[busy] = np.ceil(np.log2(n_top[busy] * _DENSITY)).astype(np.int64)
    np.clip(sub, 0, 16, out=sub)
    sub_shift = (16 - sub).astype(np.uint32)
    offset = np.zeros(1 << 16, np.int64)
    np.cumsum((1 << sub)[:-1], out=offset[1:])
    m = int(offset[-1] + (1 << int(sub[-1])))
    top = (u >> np.uint32(16)).astype(np.intp)
    idx = offset[top] + ((u & np.uint32(0xFFFF)) >> sub_shift[top]).astype(np.int64)
    per_bucket = np.bincount(idx, minlength=m + 1)
    first = (np.cumsum(per_bucket) - per_bucket).astype(np.int64)
    from pebal.metrics.kernels import packed_table

    return sub_shift, offset, first, packed_table(u, first)


def pixel_counts(pos_keys: Iterable[np.ndarray], neg_keys: Iterable[np.ndarray], bits: int) -> PixelCounts:
    """:class:`PixelCounts` from anomaly and inlier key arrays (any number of each)."""
    u, c = unique_counts(pos_keys, bits)
    binner = NegativeBinner(u, bits)
    for x in neg_keys:
        binner.add(np.asarray(x, dtype=K.key_dtype(bits)))
    return PixelCounts(keys=u, positives=c, negatives=binner.finish(), bits=bits)
