"""Paired comparisons of two methods measured on the same test images.

Two rows of a table are evaluated on the same images, so most of the noise over images is
shared: an image with a hard anomaly lowers both rows' AP. Comparing two rows by whether
their own bootstrap intervals overlap ignores that and needs a difference about 1.4-3x
larger than a paired test does. Here the difference ``d = metric(B) - metric(A)`` is
resampled directly:

* **over images**: every bootstrap replicate draws the test images with replacement and
  computes both methods' exact pooled metrics on the *same* draw. :meth:`PerImageCounts.bootstrap`
  draws images from ``(seed, number of images)`` alone, so two methods' replicates with the
  same bootstrap seed are already paired draw by draw (also across runs, through the
  replicates stored in each run's ``result.json``);
* **over seeds** (when there are S > 1 training seeds): the seeds' differences on the whole
  test set, ``D_s``, spread for two reasons: a model-wide training effect, which no image
  draw reproduces, and image-local noise (each seed scores each image a little differently),
  which the image draws of the seed mean already contain. Resampling 3 seeds with
  replacement would be far too narrow (a bootstrap of 3 values) and would count the
  image-local part twice. Instead each replicate is

      d* = mean_s D_s + c (mean_s R*_s - centre) + sqrt(Var_s(D_s) / S) t*_{S-1}

  where ``R*_s`` are seed ``s``'s paired image replicates, ``c`` shrinks the image part to the
  image variance not explained by image-local seed noise (``Var(mean_s R*) - W / S``, with
  ``W = S/(S-1) mean_s Var(R*_s - mean_s' R*_s')``), and ``t*`` is Student's t with S - 1
  degrees of freedom: with no image noise this is exactly the one-sample t interval over
  seeds, with no seed effect the paired image bootstrap (tests: nominal coverage of
  exchangeable methods, one seed and three seeds with a model-wide seed effect).

Reported per metric: the point difference (mean over seeds of ``B_s - A_s``), the 95 %
percentile interval of the replicates of ``d``, and a two-sided bootstrap p-value

    p = min(1, 2 * min((1 + #{d* <= 0}) / (R + 1), (1 + #{d* >= 0}) / (R + 1)))

over the R finite replicates (the +1 keeps p > 0 with finitely many replicates); p < 0.05
exactly when 0 lies outside the (slightly widened) percentile interval. A permutation test
that swaps the two methods' score maps per image is not used: pooled pixel metrics mix
the swapped maps, and two scores on different scales (probabilities vs energies) would
make every swapped mixture meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pebal.experiments.bootstrap import METRICS, PerImageCounts

#: Larger is better for AP and AUROC, smaller for FPR95.
HIGHER_IS_BETTER = {"auroc": True, "ap": True, "fpr95": False}
LEVEL = 0.95


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p-value of ``d = 0`` from the replicates of ``d`` (NaNs dropped; see module doc)."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return float("nan")
    below, above = int(np.count_nonzero(r <= 0)), int(np.count_nonzero(r >= 0))
    return float(min(1.0, 2 * min(below + 1, above + 1) / (r.size + 1)))


def paired_difference(values_a: Sequence[float], values_b: Sequence[float], replicates_a, replicates_b,
                      level: float = LEVEL, seed: int = 0) -> dict:
    """The paired difference ``B - A`` of one metric.

    Args:
        values_a, values_b: (S,) the metric of each training seed (the same seeds, same order).
        replicates_a, replicates_b: (S, R) bootstrap replicates over images of each seed; column
            ``r`` of both must come from the same image draw (same bootstrap seed, same test set).
        seed: draws of the seeds (only used when S > 1).

    Returns ``{"difference", "ci95": [lo, hi], "p_value", "replicates": R used, "seeds": S}``;
    the interval and p-value are NaN when no replicate is finite.
    """
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    ra, rb = np.atleast_2d(np.asarray(replicates_a, np.float64)), np.atleast_2d(np.asarray(replicates_b, np.float64))
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"per-seed values must be two equal non-empty 1-D lists, got shapes {a.shape} and {b.shape}")
    if ra.shape != rb.shape or ra.shape[0] != a.size:
        raise ValueError(f"replicates must be (seeds, R) = ({a.size}, R) for both methods, got {ra.shape} and {rb.shape}")
    diff = rb - ra  # (S, R)
    s, r = diff.shape
    d = diff.mean(axis=0)  # the seed-mean difference on each image draw (NaN if any seed has none)
    seed_var = 0.0
    if s > 1:
        d, seed_var = _add_seed_spread(b - a, diff, d, np.random.default_rng(seed))
    finite = d[~np.isnan(d)]
    if finite.size:
        lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
        ci = [float(lo), float(hi)]
    else:
        ci = [float("nan"), float("nan")]
    return {"difference": float(np.mean(b - a)), "ci95": ci, "p_value": bootstrap_p_value(finite),
            "replicates": int(finite.size), "seeds": int(s), "seed_sd": float(np.sqrt(seed_var))}



def _add_seed_spread(per_seed: np.ndarray, replicates: np.ndarray, d: np.ndarray, rng) -> tuple[np.ndarray, float]:
    """Replicates of the seed mean over images and seeds (see the module doc): returns them and
    ``Var_s(D_s)``."""
    s = per_seed.size
    ok = ~np.isnan(d)
    seed_var = float(np.var(per_seed, ddof=1))
    if ok.sum() < 2:
        return d, seed_var
    dev = replicates[:, ok] - d[ok]
    local = float(np.mean(np.var(dev, axis=1, ddof=1))) * s / (s - 1)  # image-local part of Var_s(D_s)
    image_var = float(np.var(d[ok], ddof=1))
    shared = max(0.0, image_var - local / s)
    centre = float(np.mean(d[ok]))
    scale = np.sqrt(shared / image_var) if image_var > 0 else 0.0
    out = np.full(d.shape, np.nan)
    out[ok] = centre + scale * (d[ok] - centre)
    out += np.sqrt(seed_var / s) * rng.standard_t(s - 1, size=d.size)
    return out, seed_var


def verdict(entry: dict, metric: str, alpha: float = 1 - LEVEL) -> str:
    """``"better"`` / ``"worse"`` (B vs A, significant at ``alpha``) or ``"n.s."``."""
    p = entry["p_value"]
    if p != p or p >= alpha:
        return "n.s."
    up = entry["difference"] > 0
    return "better" if up == HIGHER_IS_BETTER[metric] else "worse"


def paired_from_counts(a: Sequence[PerImageCounts] | PerImageCounts, b: Sequence[PerImageCounts] | PerImageCounts,
                       num_samples: int = 1000, bootstrap_seed: int = 0, metrics=METRICS, seed: int = 0) -> dict:
    """Paired differences ``B - A`` per metric from per-image counts of the two methods
    (one :class:`PerImageCounts` per training seed, on the same test images)."""
    a = [a] if isinstance(a, PerImageCounts) else list(a)
    b = [b] if isinstance(b, PerImageCounts) else list(b)
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same non-zero number of seeds for both methods, got {len(a)} and {len(b)}")
    for x, y in zip(a, b, strict=True):
        if x.num_images != y.num_images:
            raise ValueError(f"paired comparison needs the same test images: {x.num_images} vs {y.num_images} images")
    point_a = [x.metrics() for x in a]
    point_b = [y.metrics() for y in b]
    reps_a = [x.bootstrap(num_samples, bootstrap_seed, metrics) for x in a]
    reps_b = [y.bootstrap(num_samples, bootstrap_seed, metrics) for y in b]
    return {m: paired_difference([p[m] for p in point_a], [p[m] for p in point_b], [r[m] for r in reps_a],
                                 [r[m] for r in reps_b], seed=seed) for m in metrics}


def paired_from_entries(entries_a: list[dict], entries_b: list[dict], metrics=METRICS, seed: int = 0) -> dict:
    """Paired differences from the per-seed entries a run's ``result.json`` keeps for one
    score and test set (``{"ap": ..., "bootstrap": {"ap": [R replicates]}, ...}``)."""
    if len(entries_a) != len(entries_b):
        raise ValueError(f"need the same seeds for both rows, got {len(entries_a)} and {len(entries_b)}")

    def reps(entries, m):
        return [np.asarray([np.nan if v is None else v for v in e["bootstrap"][m]], np.float64) for e in entries]

    out = {}
    for m in metrics:
        ra, rb = reps(entries_a, m), reps(entries_b, m)
        if {x.size for x in ra + rb} != {ra[0].size}:
            raise ValueError(f"rows have different numbers of bootstrap replicates for {m}; rerun with one --bootstrap")
        out[m] = paired_difference([e[m] for e in entries_a], [e[m] for e in entries_b], ra, rb, seed=seed)
    return out


def comparison_pairs(names: list[str], labels: list[str], ordering: bool) -> list[tuple[int, int]]:
    """Index pairs ``(A, B)`` to compare: the reference row (the setting named ``pebal``, else
    the row whose label names PEBAL, else the last row) against every other row (``A`` the
    other row, ``B`` the reference); with ``ordering`` (an ablation table) also each row
    against the next and every row against the last (what :mod:`.ordering` checks)."""
    n = len(names)
    if n < 2:
        return []
    if "pebal" in names:
        ref = names.index("pebal")
    else:
        ref = next((i for i, label in enumerate(labels) if "PEBAL" in label), n - 1)
    pairs = [(i, ref) for i in range(n) if i != ref]
    if ordering:
        extra = [(i, i + 1) for i in range(n - 1)] + [(i, n - 1) for i in range(n - 1)]
        pairs += [p for i, p in enumerate(extra) if p not in pairs and p not in extra[:i]]
    return pairs


def paired_rows(rows: list[dict], entries: list[dict[str, list[dict]]], set_names: list[str],
                ordering: bool = False, metrics=METRICS, seed: int = 0, extra=()) -> list[dict]:
    """Paired comparisons between table rows (pairs from :func:`comparison_pairs`, then the
    ``extra`` pairs ``[A, B]`` of setting names, kind ``"extra"``).

    ``rows``: the table's rows (``setting`` and ``label``); ``entries[i][set]``: row ``i``'s
    per-seed result entries on that test set. Returns one record per pair:
    ``{"a", "b", "a_index", "b_index", "kind": "reference" | "ordering", "sets": {set: {metric:
    paired_difference}}}``, the difference being ``b - a``.
    """
    names = [r["setting"] for r in rows]
    labels = [r["label"] for r in rows]
    reference = comparison_pairs(names, labels, False)
    pairs = comparison_pairs(names, labels, ordering)
    pairs += [p for p in dict.fromkeys((names.index(a), names.index(b)) for a, b in extra) if p not in pairs]
    ordered = set(comparison_pairs(names, labels, ordering))
    out = []
    for i, j in pairs:
        sets = {s: paired_from_entries(entries[i][s], entries[j][s], metrics, seed) for s in set_names}
        kind = "reference" if (i, j) in reference else ("ordering" if (i, j) in ordered else "extra")
        out.append({"a": labels[i], "b": labels[j], "a_index": i, "b_index": j, "kind": kind, "sets": sets})
    return out


def paired_methods(states: dict[str, dict[str, PerImageCounts]], reference: str = "pebal", num_samples: int = 1000,
                   bootstrap_seed: int = 0, metrics=METRICS) -> list[dict]:
    """``reference`` against every other method of one evaluation (one model per method, no
    seeds), from per-image counts: ``states[test set][method]``. Records as :func:`paired_rows`."""
    sets = list(states)
    if not sets:
        return []
    methods = list(states[sets[0]])
    if reference not in methods:
        raise ValueError(f"reference method {reference!r} was not evaluated; methods: {', '.join(methods)}")
    replicates = {s: {m: st.bootstrap(num_samples, bootstrap_seed, metrics) for m, st in states[s].items()} for s in sets}
    points = {s: {m: st.metrics() for m, st in states[s].items()} for s in sets}
    out = []
    for other in (m for m in methods if m != reference):
        per_set = {}
        for s in sets:
            if states[s][other].num_images != states[s][reference].num_images:
                raise ValueError(f"{s}: {other} and {reference} were scored on different numbers of images")
            per_set[s] = {m: paired_difference([points[s][other][m]], [points[s][reference][m]],
                                               [replicates[s][other][m]], [replicates[s][reference][m]])
                          for m in metrics}
        out.append({"a": other, "b": reference, "kind": "reference", "sets": per_set})
    return out
