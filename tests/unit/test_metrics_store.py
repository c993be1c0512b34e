"""The bounded exact state and the compiled loops give the numpy definitions' counts exactly."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from pebal.metrics import AnomalyMetrics, pixel_metrics, store
from pebal.metrics import keys as K
from pebal.metrics import kernels
from pebal.metrics.counts import bin_table, pixel_counts, unique_counts


def crowded(seed, n=3, h=40, w=50):
    """Scores on a few thousand consecutive float32 values (pages fill up; many ties; anomaly
    keys close together, so that sub-buckets hold several of them), plus a scattered tail."""
    rng = np.random.default_rng(seed)
    lab = (rng.random((n, h, w)) < 0.1).astype(np.uint8)
    lab[rng.random((n, h, w)) < 0.05] = 255
    steps = rng.integers(0, 9000, (n, h, w)) + 3000 * (lab == 1)
    s = (np.full((n, h, w), 1.0, np.float32).view(np.uint32) + steps.astype(np.uint32)).view(np.float32)
    tail = rng.random((n, h, w)) < 0.05
    s[tail] = rng.normal(size=int(tail.sum())).astype(np.float32) * 100
    s[0, 0, :4] = [-0.0, 0.0, -1e-45, 1e-45]
    return s, lab


def reference_counts(s, lab):
    return pixel_counts([K.to_keys(s[lab == 1])], [K.to_keys(s[lab == 0])], 32)


def assert_same_counts(a, b):
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.positives, b.positives)
    assert np.array_equal(a.negatives, b.negatives)


def test_compiled_key_equals_numpy_key():
    x = np.array([-np.finfo(np.float32).max, -1.5, -1e-45, -0.0, 0.0, 1e-45, 2.0, np.finfo(np.float32).max],
                 np.float32)
    lab = np.zeros(x.size, np.uint8)
    pos, neg = np.empty(x.size, np.uint32), np.empty(x.size, np.uint32)
    n_pos, n_neg, bad = kernels.split_keys(x.view(np.uint32), lab, 255, pos, neg)
    assert (n_pos, n_neg, bad) == (0, x.size, -1)
    assert np.array_equal(neg, K.to_keys(x)) and neg[3] == neg[4]


@pytest.mark.parametrize("seed", range(3))
def test_compiled_pixel_counts_equal_the_numpy_definition(seed):
    s, lab = crowded(seed)
    from pebal.metrics.pixel import counts_from_arrays

    assert_same_counts(counts_from_arrays(s, lab), reference_counts(s, lab))
    u, _ = unique_counts([K.to_keys(s[lab == 1])], 32)
    table = bin_table(u)
    assert (np.diff(table[2]) > 8).any() or (np.diff(table[2]) > 1).any()  # crowded sub-buckets exist


def test_store_with_dense_pages_is_exact_and_merges(monkeypatch):
    monkeypatch.setattr(store, "MIN_FOLD", 1000)
    s, lab = crowded(7, n=6, h=80, w=100)
    whole, a, b = AnomalyMetrics(), AnomalyMetrics(), AnomalyMetrics()
    for i in range(6):
        whole.update(s[i], lab[i])
        (a if i % 2 else b).update(s[i], lab[i])
    assert whole._store.page_ids.size > 0 and whole._store.neg_raw  # both parts in use
    assert_same_counts(whole.counts(), reference_counts(s, lab))
    assert_same_counts(a.merge(b).counts(), whole.counts())
    r = whole.compute()
    y, x = lab[lab != 255] == 1, s[lab != 255]
    assert r["auroc"] == pytest.approx(roc_auc_score(y, x), abs=1e-12)
    assert r["ap"] == pytest.approx(average_precision_score(y, x), abs=1e-12)
    wide = AnomalyMetrics()
    wide.update(s[:3], lab[:3])
    wide.update(s[3:].astype(np.float64), lab[3:])  # widens a store with pages
    assert wide.bits == 64 and wide.compute() == pixel_metrics(s.astype(np.float64), lab)


def test_counters_switch_to_int64_before_they_could_overflow(monkeypatch):
    monkeypatch.setattr(store, "MIN_FOLD", 1000)
    s, lab = crowded(9, n=4, h=80, w=100)
    m = AnomalyMetrics()
    m.update(s[:2], lab[:2])
    m._store.num_negative += 2**32  # as if 4e9 inliers had been seen
    m.update(s[2:], lab[2:])
    assert m._store.dense.dtype == np.int64
    m._store.num_negative -= 2**32
    assert_same_counts(m.counts(), reference_counts(s, lab))


def test_state_stops_growing_once_the_range_is_covered(monkeypatch):
    monkeypatch.setattr(store, "MIN_FOLD", 20_000)
    s, lab = crowded(11, n=4, h=100, w=100)
    s[(s < 1) | (s > 2)] = 1.0  # no scattered tail: every score in a few pages
    m = AnomalyMetrics()
    sizes = []
    for _ in range(8):
        m.update(s, lab)
        sizes.append(m.state_bytes())
    # further pixels only increment counters (the 4 scores of image 0 placed alone in their
    # pages stay raw keys: 8 bytes per update)
    assert sizes[-1] - sizes[-3] <= 16
    # beyond the fixed 12 MB page tables, far below the 4 bytes per pixel of raw keys
    assert sizes[-1] - 12 * 2**20 < 0.1 * 8 * s.size * 4
    assert m.compute() == pixel_metrics(np.concatenate([s] * 8), np.concatenate([lab] * 8))


def test_label_dtypes_and_no_void_label_take_the_same_path_results():
    from pebal.metrics import MetricInputError

    s, lab = crowded(5)
    ref = pixel_metrics(s, lab)
    assert pixel_metrics(s, lab.astype(np.int64)) == ref
    m = AnomalyMetrics()
    m.update(s, lab.astype(np.int16))
    assert m.compute() == ref
    no_void = np.where(lab == 255, 0, lab).astype(np.uint8)
    expected = pixel_metrics(s.astype(np.float64), no_void, ignore_index=None)
    assert pixel_metrics(s, no_void, ignore_index=None) == {**expected}
    bad = lab.astype(np.int64)
    bad[1, 2, 3] = 1000
    with pytest.raises(MetricInputError, match="image 1: 1 label"):
        pixel_metrics(s, bad)
    with pytest.raises(MetricInputError, match="image 1: 1 label"):
        AnomalyMetrics().update(s, bad)
