"""Does an ablation table keep the paper's ordering?

The paper's Table 5 claims that each added component improves AP and FPR95 and that the full
method is best. :func:`check_ordering` reads that claim off an experiment's ``results.json``
(rows in the table's order, the last the full method), per test set and metric, on the seed
means; a step also counts as *resolved* only when the two rows' 95 % bootstrap intervals do
not overlap, so a difference smaller than the noise over test images is reported as such.
"""

from __future__ import annotations

#: Larger is better for AP and AUROC, smaller for FPR95.
HIGHER_IS_BETTER = {"auroc": True, "ap": True, "fpr95": False}


def _better(a: float, b: float, metric: str) -> bool:
    """``b`` is strictly better than ``a``."""
    return b > a if HIGHER_IS_BETTER[metric] else b < a


def _disjoint(ci_a, ci_b) -> bool:
    if None in (*ci_a, *ci_b):
        return False
    return ci_a[1] < ci_b[0] or ci_b[1] < ci_a[0]


def check_ordering(results: dict, metrics: tuple[str, ...] = ("ap", "fpr95")) -> dict:
    """Per test set and metric: every step ``row[i] -> row[i+1]`` with its change and whether it
    improves (and beyond the bootstrap intervals), whether the last row is best, and overall
    ``holds`` (every step improves and the last row is best, on every set and metric)."""
    rows = results["rows"]
    if len(rows) < 2:
        raise ValueError(f"an ordering needs at least two rows, {results.get('experiment')!r} has {len(rows)}")
    out: dict = {"order": [r["label"] for r in rows], "test_sets": {}}
    holds = True
    for set_name in results["test_sets"]:
        per_metric = {}
        for metric in metrics:
            means = [r["metrics"][set_name][metric]["mean"] for r in rows]
            cis = [r["metrics"][set_name][metric]["ci95"] for r in rows]
            steps = []
            for i in range(len(rows) - 1):
                improves = _better(means[i], means[i + 1], metric)
                steps.append({"from": rows[i]["label"], "to": rows[i + 1]["label"],
                              "change": means[i + 1] - means[i], "improves": improves,
                              "resolved": _disjoint(cis[i], cis[i + 1])})
            best = max(range(len(rows)), key=lambda i: means[i] if HIGHER_IS_BETTER[metric] else -means[i])
            last_is_best = best == len(rows) - 1
            per_metric[metric] = {"steps": steps, "best": rows[best]["label"], "last_is_best": last_is_best,
                                  "every_step_improves": all(s["improves"] for s in steps)}
            holds = holds and last_is_best and per_metric[metric]["every_step_improves"]
        out["test_sets"][set_name] = per_metric
    out["holds"] = holds
    return out


def ordering_markdown(check: dict) -> str:
    """One line per (test set, metric): the steps as +/- changes in points, and the best row."""
    lines = [f"Paper ordering ({' → '.join(check['order'])}) holds: **{'yes' if check['holds'] else 'no'}**", ""]
    for set_name, per_metric in check["test_sets"].items():
        for metric, entry in per_metric.items():
            steps = ", ".join(f"{100 * s['change']:+.2f}{'' if s['improves'] else ' ✗'}{'' if s['resolved'] else ' (within CI)'}"
                              for s in entry["steps"])
            lines.append(f"- {set_name} {metric.upper()}: steps {steps}; best: {entry['best']}")
    return "\n".join(lines)
