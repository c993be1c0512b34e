"""Exact per-image pixel counts and a percentile bootstrap over images.

:class:`PerImageCounts` keeps, for every image, the order-preserving keys of its anomaly
and inlier scores (as :class:`pebal.metrics.AnomalyMetrics` does, 4 bytes per pixel). At
``finish()`` every image's counts are binned on the *global* anomaly keys: a row of
``positives`` (U,) and ``negatives`` (2U+1,) per image (sparse). A bootstrap replicate draws
images with replacement (a seeded ``numpy.random.Generator``); its exact
:class:`~pebal.metrics.PixelCounts` is the multiplicity-weighted sum of the rows, so every
replicate's metrics equal those of pooling the drawn images' pixels, without re-sorting a
single pixel. AUROC, AP and FPR95 are computed for a block of replicates at once
(:func:`replicate_metrics`); the draws depend only on the seed and the number of images, so
two methods scored on the same images are paired draw by draw (:mod:`.paired`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pebal.labels import IGNORE_INDEX
from pebal.metrics import PixelCounts
from pebal.metrics import keys as K
from pebal.metrics.counts import unique_counts
from pebal.metrics.inputs import as_batch, iter_evaluated
from pebal.metrics.pixel import metrics_from_counts

METRICS = ("auroc", "ap", "fpr95")


def compress(positives: np.ndarray, negatives: np.ndarray, keys: np.ndarray, bits: int) -> PixelCounts:
    """:class:`PixelCounts` without the anomaly keys of zero count (exact: an inlier bin next
    to a removed key joins the bin between the surrounding kept keys)."""
    kept = np.flatnonzero(positives > 0)
    c = np.concatenate([[0], np.cumsum(negatives)])  # sum of negatives[a:b] = c[b] - c[a]
    starts = np.concatenate([[0], 2 * kept[:-1] + 2])
    between = c[2 * kept + 1] - c[starts]
    equal = negatives[2 * kept + 1]
    last = c[-1] - c[2 * kept[-1] + 2] if kept.size else c[-1]
    neg = np.empty(2 * kept.size + 1, dtype=np.int64)
    neg[0:-1:2], neg[1::2], neg[-1] = between, equal, last
    return PixelCounts(keys=keys[kept], positives=positives[kept].astype(np.int64), negatives=neg, bits=bits)


class PerImageCounts:
    """Per-image exact pixel statistics of one method's score maps (labels 0 / 1 / ignore)."""

    def __init__(self, ignore_index: int = IGNORE_INDEX):
        self.ignore_index = ignore_index
        self.bits: int | None = None
        self._pos: list[list[np.ndarray]] = []
        self._neg: list[list[np.ndarray]] = []
        self._rows = None

    @property
    def num_images(self) -> int:
        return len(self._pos)

    def update(self, scores, labels) -> None:
        """Add (N, H, W) or (H, W) score maps (float32 or float64) and their labels."""
        s, lab = as_batch(scores, labels)
        bits = K.key_bits_for(s.dtype)
        if self.bits is not None and bits != self.bits:
            raise ValueError(f"scores changed dtype from {self.bits}-bit to {bits}-bit floats; use one dtype")
        self.bits = bits
        first = self.num_images
        pos = [[] for _ in range(s.shape[0])]
        neg = [[] for _ in range(s.shape[0])]
        for image, p, n in iter_evaluated(s, lab, self.ignore_index, first_image=first):
            if p.size:
                pos[image].append(K.to_keys(p))
            if n.size:
                neg[image].append(K.to_keys(n))
        self._pos.extend(pos)
        self._neg.extend(neg)
        self._rows = None

    def gather_strided_shards(self) -> None:
        """Under ``torch.distributed``: collect every process's images, which each received
        strided (process ``r`` of ``W``: images ``r, r + W, ...``), so that every process holds
        all images in data-set order, as one process would have. No-op in a single process."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        world = dist.get_world_size()
        shards: list = [None] * world
        dist.all_gather_object(shards, (self.bits, self._pos, self._neg))
        bits = {b for b, _, _ in shards if b is not None}
        if len(bits) > 1:
            raise ValueError(f"processes scored with different float widths {sorted(bits)}; use one dtype")
        total = sum(len(p) for _, p, _ in shards)
        pos: list = [None] * total
        neg: list = [None] * total
        for r, (_, p, n) in enumerate(shards):
            pos[r::world], neg[r::world] = p, n
        self.bits = bits.pop() if bits else None
        self._pos, self._neg, self._rows = pos, neg, None

    def _finish(self):
        """Global keys (U,), sparse per-image positives (I, U) and negatives (I, 2U+1)."""
        if self._rows is None:
            if self.bits is None:
                raise ValueError("no image was added")
            keys, _ = unique_counts([k for keys in self._pos for k in keys], self.bits)
            u, n_img = keys.size, self.num_images

            def rows(per_image, width, binning):
                # one sparse (I, width) matrix of per-image bin counts; duplicates are summed
                parts = [np.concatenate(p) if p else np.zeros(0, keys.dtype) for p in per_image]
                image = np.repeat(np.arange(n_img), [q.size for q in parts])
                bins = binning(np.concatenate(parts) if parts else np.zeros(0, keys.dtype))
                return sp.coo_matrix((np.ones(bins.size, np.int64), (image, bins)), shape=(n_img, width)).tocsr()

            pos = rows(self._pos, u, lambda k: np.searchsorted(keys, k))
            # bin 2j: strictly between keys j-1 and j; bin 2j+1: equal to key j
            neg = rows(self._neg, 2 * u + 1, lambda k: np.searchsorted(keys, k, "left") + np.searchsorted(keys, k, "right"))
            self._rows = (keys, pos, neg)
        return self._rows

    def counts(self, weights: np.ndarray | None = None) -> PixelCounts:
        """Exact counts of all images, or of images repeated ``weights`` (I,) int times."""
        keys, pos, neg = self._finish()
        w = np.ones(self.num_images) if weights is None else np.asarray(weights, dtype=np.float64)
        # float64 sums of integer counts are exact below 2**53
        p = np.rint(pos.T @ w).astype(np.int64)
        n = np.rint(neg.T @ w).astype(np.int64)
        return compress(p, n, keys, self.bits)

    def metrics(self) -> dict:
        return metrics_from_counts(self.counts())

    def bootstrap(self, num_samples: int = 1000, seed: int = 0, metrics=METRICS,
                  chunk: int | None = None) -> dict[str, np.ndarray]:
        """``num_samples`` replicates of each metric over images drawn with replacement.

        The draws depend only on ``seed`` and the number of images, so runs of different
        training seeds on the same test set share them (their replicates can be averaged), and
        two methods scored on the same images are paired draw by draw (:mod:`.paired`).
        A replicate without anomaly (or inlier) pixels gives NaN.

        AUROC, AP and FPR95 are computed ``chunk`` replicates at a time on the global keys
        (:func:`replicate_metrics`; default: as many as keep each dense block near 4 M entries);
        other metrics one replicate at a time.
        """
        rng = np.random.default_rng(seed)
        n = self.num_images
        weights = np.stack([np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(num_samples)]) \
            if num_samples else np.zeros((0, n), np.int64)
        out = {m: np.full(num_samples, np.nan) for m in metrics}
        fast = [m for m in metrics if m in METRICS]
        if fast:
            keys, pos, neg = self._finish()
            pos_t, neg_t = pos.T.tocsr(), neg.T.tocsr()
            chunk = chunk or int(np.clip(4_000_000 // (2 * keys.size + 1), 1, 64))
            for start in range(0, num_samples, chunk):
                w = weights[start:start + chunk].T.astype(np.float64)  # (I, C)
                values = replicate_metrics(np.rint(pos_t @ w).T, np.rint(neg_t @ w).T)
                for m in fast:
                    out[m][start:start + chunk] = values[m]
        for m in (m for m in metrics if m not in METRICS):
            for b in range(num_samples):
                counts = self.counts(weights[b])
                if counts.keys.size and counts.num_negative:
                    out[m][b] = metrics_from_counts(counts)[m]
        return out


def replicate_metrics(positives: np.ndarray, negatives: np.ndarray) -> dict[str, np.ndarray]:
    """AUROC, AP and FPR95 (first rule) of C replicates at once, from dense counts on shared keys.

    Shapes: positives (C, U), negatives (C, 2U+1), the :class:`PixelCounts` layout of each row
    (keys of zero count allowed: they add nothing to any of the three sums, and the FPR95
    threshold always falls on a key of non-zero count). Returns arrays (C,); NaN where a row
    has no anomaly or no inlier pixel. Equal to :func:`metrics_from_counts` to float rounding.
    """
    p = positives.astype(np.float64)
    csum = np.cumsum(negatives.astype(np.float64), axis=1)
    below = csum[:, 0:-1:2]  # inliers strictly below key j
    equal = negatives[:, 1::2].astype(np.float64)
    total_p, total_n = p.sum(axis=1), csum[:, -1]
    tp = np.cumsum(p[:, ::-1], axis=1)[:, ::-1]
    fp = total_n[:, None] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        auroc = np.sum(p * (2 * below + equal), axis=1) / (2 * total_p * total_n)
        precision = np.where(p > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        ap = np.sum(p * precision, axis=1) / total_p
        recall = tp / total_p[:, None]
        j = np.count_nonzero(recall >= 0.95, axis=1) - 1
        fpr95 = fp[np.arange(fp.shape[0]), np.maximum(j, 0)] / total_n
    bad = (total_p == 0) | (total_n == 0)
    for a in (auroc, ap, fpr95):
        a[bad] = np.nan
    return {"auroc": auroc, "ap": ap, "fpr95": fpr95}


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval ``(q_(1-level)/2, q_(1+level)/2)``, NaNs dropped."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
