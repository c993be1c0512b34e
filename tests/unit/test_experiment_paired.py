"""Paired comparisons: exact vectorised replicates, and known answers over many synthetic draws
(exchangeable methods: the 95 % interval covers 0 at the nominal rate and p is ~uniform; a
planted difference is detected)."""

from __future__ import annotations

import numpy as np
import pytest

from pebal.experiments.bootstrap import PerImageCounts
from pebal.experiments.paired import (
    bootstrap_p_value, comparison_pairs, paired_difference, paired_from_counts, paired_from_entries, paired_rows,
    verdict)
from pebal.metrics import pixel_metrics


def _test_set(rng, images=30, shape=(8, 16), shift=(1.0, 1.0), noise=1.0, seeds=1, seed_effect=0.0):
    """Labels and the score maps of two methods on the same images: each image has its own
    anomaly fraction and difficulty (shared by both methods: what pairing exploits), the
    methods add independent pixel noise; ``shift`` is each method's anomaly-score offset, so
    equal shifts make the two methods exchangeable (true difference 0). Each training seed
    of a method also moves all its anomaly scores by N(0, ``seed_effect``) (a model-wide effect
    that no image draw reproduces)."""
    labels = np.zeros((images, *shape), np.uint8)
    frac = rng.uniform(0.02, 0.3, images)
    labels[rng.random((images, *shape)) < frac[:, None, None]] = 1
    labels[:, 0, :3] = 255
    difficulty = rng.normal(0, 0.8, images)[:, None, None]
    out = []
    for s in shift:
        per_seed = []
        for _ in range(seeds):
            trained = rng.normal(0, seed_effect) if seed_effect else 0.0
            score = rng.normal(0, noise, labels.shape) + (labels == 1) * (s + trained + difficulty)
            per_seed.append(score.astype(np.float32))
        out.append(per_seed)
    return labels, out


def _states(labels, maps):
    states = []
    for m in maps:
        st = PerImageCounts()
        st.update(m, labels)
        states.append(st)
    return states


def test_vectorised_replicates_equal_pooling_the_drawn_images():
    rng = np.random.default_rng(1)
    labels, ((scores,), _) = _test_set(rng, images=9)
    scores = np.round(scores * 4) / 4  # ties between anomaly and inlier scores
    state = PerImageCounts()
    state.update(scores, labels)
    reps = state.bootstrap(12, seed=5, chunk=5)
    draws = np.random.default_rng(5)
    for b in range(12):
        drawn = draws.integers(0, 9, size=9)
        expected = pixel_metrics(scores[drawn], labels[drawn])
        for m in ("auroc", "ap", "fpr95"):
            assert reps[m][b] == pytest.approx(expected[m], abs=1e-12), (m, b)
    # a metric outside the vectorised three takes the per-replicate path, same draws
    f1 = state.bootstrap(3, seed=5, metrics=("best_f1",))["best_f1"]
    draws = np.random.default_rng(5)
    for b in range(3):
        drawn = draws.integers(0, 9, size=9)
        assert f1[b] == pytest.approx(pixel_metrics(scores[drawn], labels[drawn])["best_f1"], abs=1e-12)


def test_identical_methods_give_zero_difference_and_p_one():
    rng = np.random.default_rng(2)
    labels, ((a,), _) = _test_set(rng)
    result = paired_from_counts(_states(labels, [a]), _states(labels, [a.copy()]), num_samples=50)
    for m in ("auroc", "ap", "fpr95"):
        assert result[m]["difference"] == 0.0 and result[m]["ci95"] == [0.0, 0.0] and result[m]["p_value"] == 1.0


def test_difference_is_b_minus_a_and_intervals_are_paired():
    rng = np.random.default_rng(3)
    labels, ((a,), (b,)) = _test_set(rng, images=40, shift=(1.0, 2.0))
    sa, sb = _states(labels, [a]), _states(labels, [b])
    result = paired_from_counts(sa, sb, num_samples=300)
    expected = pixel_metrics(b, labels)["ap"] - pixel_metrics(a, labels)["ap"]
    assert result["ap"]["difference"] == pytest.approx(expected, abs=1e-12)
    assert result["ap"]["difference"] > 0 and result["fpr95"]["difference"] < 0
    assert verdict(result["ap"], "ap") == "better" and verdict(result["fpr95"], "fpr95") == "better"
    # the paired interval is narrower than the two methods' own intervals side by side
    ra, rb = sa[0].bootstrap(300)["ap"], sb[0].bootstrap(300)["ap"]
    unpaired = np.quantile(rb, 0.975) - np.quantile(ra, 0.025) - (np.quantile(rb, 0.025) - np.quantile(ra, 0.975))
    lo, hi = result["ap"]["ci95"]
    assert hi - lo < 0.6 * unpaired


def test_p_value_formula():
    assert bootstrap_p_value(np.ones(99)) == pytest.approx(2 / 100)
    assert bootstrap_p_value(np.r_[-np.ones(10), np.ones(89)]) == pytest.approx(2 * 11 / 100)
    assert bootstrap_p_value(np.array([np.nan])) != bootstrap_p_value(np.array([np.nan]))  # NaN


@pytest.mark.slow
@pytest.mark.parametrize("seeds, seed_effect", [(1, 0.0), (3, 0.3)])
def test_exchangeable_methods_cover_zero_at_the_nominal_rate(seeds, seed_effect):
    """200 independent test sets with two exchangeable methods (true difference 0), one seed or
    three seeds with a model-wide seed effect: the 95 % interval must cover 0 in 95 % of them
    (binomial sd 1.5 %: accept 90-99 %), and the p-values must look uniform (below 0.05 in
    1-10 %, median 0.4-0.6)."""
    rng = np.random.default_rng(10 + seeds)
    covered, pvalues = {m: 0 for m in ("auroc", "ap", "fpr95")}, {m: [] for m in ("auroc", "ap", "fpr95")}
    draws = 200
    for _ in range(draws):
        labels, (a, b) = _test_set(rng, images=30, seeds=seeds, seed_effect=seed_effect)
        result = paired_from_counts(_states(labels, a), _states(labels, b), num_samples=200,
                                    bootstrap_seed=int(rng.integers(1 << 30)), seed=int(rng.integers(1 << 30)))
        for m, entry in result.items():
            covered[m] += entry["ci95"][0] <= 0 <= entry["ci95"][1]
            pvalues[m].append(entry["p_value"])
    for m in covered:
        rate = covered[m] / draws
        assert 0.90 <= rate <= 0.99, (m, rate)
        p = np.asarray(pvalues[m])
        assert 0.01 <= np.mean(p < 0.05) <= 0.10, (m, np.mean(p < 0.05))
        assert 0.4 <= np.median(p) <= 0.6, (m, np.median(p))


def test_a_planted_difference_is_detected():
    """Method B's anomalies score 0.5 higher: over 30 test sets the paired test finds it
    (p < 0.05, direction right) in nearly all, and its interval covers the true difference."""
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(30):
        labels, (a, b) = _test_set(rng, images=30, shift=(1.0, 1.5))
        result = paired_from_counts(_states(labels, a), _states(labels, b), num_samples=200,
                                    bootstrap_seed=int(rng.integers(1 << 30)))
        found += verdict(result["ap"], "ap") == "better" and verdict(result["auroc"], "auroc") == "better"
    assert found >= 27


def test_seed_spread_gives_the_t_interval_when_images_add_no_noise():
    """Replicates without image noise and three seeds whose differences are 0.02, 0.06, 0.10:
    the interval must be the one-sample t interval 0.06 ± t(2) 0.04 / sqrt(3)."""
    a = np.array([0.50, 0.50, 0.50])
    b = np.array([0.52, 0.56, 0.60])
    reps_a, reps_b = np.tile(a[:, None], (1, 20000)), np.tile(b[:, None], (1, 20000))
    one = paired_difference(a[:1], b[:1], reps_a[:1], reps_b[:1])
    assert one["ci95"] == pytest.approx([0.02, 0.02]) and one["seeds"] == 1
    three = paired_difference(a, b, reps_a, reps_b, seed=4)
    half = 4.302653 * 0.04 / np.sqrt(3)
    assert three["difference"] == pytest.approx(0.06) and three["seed_sd"] == pytest.approx(0.04)
    assert three["ci95"] == pytest.approx([0.06 - half, 0.06 + half], abs=0.004)
    assert three["p_value"] == pytest.approx(0.1217, abs=0.01)  # two-sided t-test p, t = 0.06 / (0.04 / sqrt(3)), 2 df


def test_nan_replicates_are_dropped_and_shapes_checked():
    a, b = [0.1, 0.2], [0.2, 0.3]
    ra = np.array([[0.1, np.nan, 0.1], [0.2, 0.2, 0.2]])
    rb = np.array([[0.3, 0.3, 0.3], [0.3, 0.3, np.nan]])
    out = paired_difference(a, b, ra, rb, seed=0)
    assert out["replicates"] <= 3
    with pytest.raises(ValueError, match="replicates must be"):
        paired_difference(a, b, ra, rb[:, :2])
    with pytest.raises(ValueError, match="per-seed values"):
        paired_difference(a, [0.1], ra, rb)


def test_pairs_reference_and_consecutive():
    names, labels = ["em", "ebm", "pebal", "bn"], ["EM", "EBM", "PEBAL", "BN"]
    assert comparison_pairs(names, labels, False) == [(0, 2), (1, 2), (3, 2)]
    assert comparison_pairs(names, labels, True) == [(0, 2), (1, 2), (3, 2), (0, 1), (2, 3), (0, 3), (1, 3)]
    assert comparison_pairs(["c1", "c2"], ["1%", "100% (PEBAL)"], False) == [(0, 1)]
    assert comparison_pairs(["x", "y", "z"], ["x", "y", "z"], False) == [(0, 2), (1, 2)]


def test_paired_rows_from_stored_entries():
    def entry(v, reps):
        return {"ap": v, "auroc": v, "fpr95": 1 - v, "bootstrap": {"ap": reps, "auroc": reps, "fpr95": [1 - r for r in reps]}}

    rows = [{"setting": "a", "label": "A"}, {"setting": "pebal", "label": "PEBAL"}]
    entries = [{"s": [entry(0.1, [0.1, 0.12, 0.08])]}, {"s": [entry(0.3, [0.3, 0.33, 0.29])]}]
    out = paired_rows(rows, entries, ["s"], ordering=True)
    assert len(out) == 1 and out[0]["a"] == "A" and out[0]["b"] == "PEBAL" and out[0]["kind"] == "reference"
    assert out[0]["sets"]["s"]["ap"]["difference"] == pytest.approx(0.2)
    assert out[0]["sets"]["s"]["ap"]["ci95"][0] > 0.18
    with pytest.raises(ValueError, match="numbers of bootstrap replicates"):
        paired_from_entries([entry(0.1, [0.1])], [entry(0.2, [0.2, 0.3])])
