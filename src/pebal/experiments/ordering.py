"""Does an ablation table keep the paper's ordering?

The paper's Table 5 claims that each added component improves AP and FPR95 and that the full
method is best. :func:`check_ordering` reads that claim off an experiment's ``results.json``
(rows in the table's order, the last the full method), per test set and metric, from the
**paired** comparisons of :mod:`.paired` (``results["paired"]``): a step *improves* only when
the paired difference goes the right way **and** is significant (two-sided bootstrap
p < 0.05 over test images and seeds). A step whose mean moves the right way without
significance is reported as such (``direction``), never as an improvement.
"""

from __future__ import annotations

from pebal.experiments.paired import HIGHER_IS_BETTER, verdict


def _pair(results: dict, a: int, b: int) -> dict | None:
    for record in results.get("paired", []):
        if (record.get("a_index"), record.get("b_index")) == (a, b):
            return record
    return None


def check_ordering(results: dict, metrics: tuple[str, ...] = ("ap", "fpr95")) -> dict:
    """Per test set and metric: every step ``row[i] -> row[i+1]`` (paired change, 95 % interval,
    p-value, whether its mean moves the right way and whether it *improves*: right way and
    significant), the best row by mean, whether the last row significantly beats every other
    row, and overall ``holds`` (every step improves and the last row beats all, on every set
    and metric)."""
    rows = results["rows"]
    if len(rows) < 2:
        raise ValueError(f"an ordering needs at least two rows, {results.get('experiment')!r} has {len(rows)}")
    last = len(rows) - 1
    needed = [(i, i + 1) for i in range(last)] + [(i, last) for i in range(last)]
    missing = [f"{rows[a]['label']} -> {rows[b]['label']}" for a, b in needed if _pair(results, a, b) is None]
    if missing:
        raise ValueError(f"results of {results.get('experiment')!r} lack the paired comparisons {missing}; "
                         "the ordering check needs consecutive rows and the last row against every other")
    out: dict = {"order": [r["label"] for r in rows], "test": "paired bootstrap over test images and seeds, p < 0.05",
                 "test_sets": {}}
    holds = True
    for set_name in results["test_sets"]:
        per_metric = {}
        for metric in metrics:
            means = [r["metrics"][set_name][metric]["mean"] for r in rows]
            steps = []
            for i in range(last):
                entry = _pair(results, i, i + 1)["sets"][set_name][metric]
                change = entry["difference"]
                direction = change > 0 if HIGHER_IS_BETTER[metric] else change < 0
                steps.append({"from": rows[i]["label"], "to": rows[i + 1]["label"], "change": change,
                              "ci95": entry["ci95"], "p_value": entry["p_value"], "direction": direction,
                              "improves": verdict(entry, metric) == "better"})
            best = max(range(len(rows)), key=lambda i: means[i] if HIGHER_IS_BETTER[metric] else -means[i])
            beats = [verdict(_pair(results, i, last)["sets"][set_name][metric], metric) == "better" for i in range(last)]
            per_metric[metric] = {"steps": steps, "best": rows[best]["label"], "last_is_best": best == last,
                                  "last_beats_all": all(beats),
                                  "every_step_improves": all(s["improves"] for s in steps)}
            holds = holds and per_metric[metric]["last_beats_all"] and per_metric[metric]["every_step_improves"]
        out["test_sets"][set_name] = per_metric
    out["holds"] = holds
    return out


def _step(s: dict) -> str:
    lo, hi = s["ci95"]
    mark = "improves" if s["improves"] else ("right way, n.s." if s["direction"] else "✗")
    return f"{100 * s['change']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] p={s['p_value']:.3f} {mark}"


def ordering_markdown(check: dict) -> str:
    """One line per (test set, metric): the paired steps in points with their interval, p-value and verdict."""
    lines = [f"Paper ordering ({' → '.join(check['order'])}) holds: **{'yes' if check['holds'] else 'no'}** "
             "(a step improves only when its paired difference is significant, p < 0.05)", ""]
    for set_name, per_metric in check["test_sets"].items():
        for metric, entry in per_metric.items():
            steps = "; ".join(_step(s) for s in entry["steps"])
            lines.append(f"- {set_name} {metric.upper()}: {steps}. Best mean: {entry['best']}; last row "
                         f"significantly better than every other: {'yes' if entry['last_beats_all'] else 'no'}")
    return "\n".join(lines)
