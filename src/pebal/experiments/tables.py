"""Markdown tables in the paper's layout and a plot of an experiment's ``results.json``.

Anomaly tables (paper Tables 1, 5, 6, 7): one row per setting, AUROC / AP / FPR95 (%) per
test set as ``mean ± std`` over seeds, then a second table with the 95% bootstrap intervals
(over test images) of AP and FPR95, then the paired comparisons (:mod:`.paired`): the
difference of two rows with its paired 95 % interval and p-value. The efficiency table:
parameters and seconds.
"""

from __future__ import annotations

from pathlib import Path

COLUMNS = (("auroc", "AUROC"), ("ap", "AP"), ("fpr95", "FPR95"))


def _pm(summary: dict | None, scale: float = 100.0, digits: int = 2) -> str:
    if summary is None or summary.get("mean") is None:
        return "—"
    mean = f"{scale * summary['mean']:.{digits}f}"
    if len(summary.get("per_seed") or []) <= 1 and "per_seed" in summary:  # one seed: no spread to show
        return mean
    return f"{mean} ± {scale * summary['std']:.{digits}f}"


def _ci(summary: dict) -> str:
    lo, hi = summary["ci95"]
    return "—" if lo is None or lo != lo else f"[{100 * lo:.2f}, {100 * hi:.2f}]"


def _pool(row: dict) -> str:
    """``classes / samples`` of the outlier-exposure pool (a range when seeds differ)."""
    pool = row.get("outlier_pool")
    if not pool:
        return "—"

    def span(values):
        lo, hi = min(values), max(values)
        return str(lo) if lo == hi else f"{lo}-{hi}"

    return f"{span(pool['classes'])} / {span(pool['samples'])}"


def anomaly_markdown(results: dict, row_header: str = "method") -> str:
    sets = results["test_sets"]
    has_miou = any(r.get("miou") for r in results["rows"])
    pools = {_pool(r) for r in results["rows"] if r.get("outlier_pool")}
    has_pool = len(pools) > 1  # shown only when the rows' outlier pools differ
    head = [row_header, *(["OE classes / samples"] if has_pool else []),
            *(f"{s} {label}" for s in sets for _, label in COLUMNS)] + (["mIoU"] if has_miou else [])
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in results["rows"]:
        cells = [row["label"], *([_pool(row)] if has_pool else []),
                 *(_pm(row["metrics"][s][m]) for s in sets for m, _ in COLUMNS)]
        if has_miou:
            cells.append(_pm(row.get("miou")))
        lines.append("| " + " | ".join(cells) + " |")
    ci_head = [row_header, *(f"{s} {label} 95% CI" for s in sets for label in ("AP", "FPR95"))]
    lines += ["", "| " + " | ".join(ci_head) + " |", "|---|" + "---:|" * (len(ci_head) - 1)]
    for row in results["rows"]:
        cells = [row["label"], *(_ci(row["metrics"][s][m]) for s in sets for m in ("ap", "fpr95"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_cell(entry: dict) -> str:
    """``+1.23 [+0.40, +2.05] p=0.004`` in points (a dash for a NaN interval)."""
    lo, hi = entry["ci95"]
    if lo != lo:
        return f"{100 * entry['difference']:+.2f} —"
    return f"{100 * entry['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] p={entry['p_value']:.3f}"


def paired_markdown(paired: list[dict], sets: list[str], metrics=("ap", "fpr95", "auroc")) -> str:
    """One row per compared pair ``B − A`` (points), paired 95 % interval and p-value per set and metric."""
    labels = dict(COLUMNS)
    head = ["B − A", *(_escape(f"{s} Δ{labels[m]}") for s in sets for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for record in paired:
        cells = [f"{record['b']} − {record['a']}", *(paired_cell(record["sets"][s][m]) for s in sets for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def efficiency_markdown(results: dict, row_header: str = "method") -> str:
    cols = (("trainable_parameters", "trainable params", 1, 0), ("total_parameters", "total params", 1, 0),
            ("seconds_per_step", "s / step", 1, 3), ("seconds_per_epoch", "s / epoch", 1, 1),
            ("inference_seconds_per_image", "inference s / image", 1, 4))
    lines = ["| " + " | ".join([row_header, *(c[1] for c in cols)]) + " |", "|---|" + "---:|" * len(cols)]
    for row in results["rows"]:
        eff = row.get("efficiency") or {}
        cells = [row["label"]]
        for key, _, scale, digits in cols:
            cells.append(_pm(eff.get(key), scale, digits) if key in eff else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _escape(cell: str) -> str:
    """A markdown table cell: a ``|`` inside it would start a new column."""
    return cell.replace("|", "\\|")


def breakdown_markdown(results: dict, views: list[str], metric: str, row_header: str = "method") -> str:
    """One row per setting, one column per breakdown view (``set | bin`` or ``set | shift``): ``metric`` in %."""
    lines = ["| " + " | ".join([row_header, *map(_escape, views)]) + " |", "|---|" + "---:|" * len(views)]
    for row in results["rows"]:
        lines.append("| " + " | ".join([row["label"], *(_pm(row["metrics"][v][metric]) for v in views)]) + " |")
    return "\n".join(lines)


def shift_miou_markdown(miou: dict) -> str:
    """mIoU (%) of the inlier model on the val scenes, unshifted and under each shift."""
    return "\n".join(["| val scenes | mIoU |", "|---|---:|",
                      *(f"| {kind} | {100 * entry['miou']:.2f} |" for kind, entry in miou.items())])


def experiment_markdown(results: dict, row_header: str = "method", table: str = "anomaly") -> str:
    seeds = ", ".join(str(s) for s in results["seeds"])
    sets = [s for s in results["test_sets"] if " | " not in s]
    views = [s for s in results["test_sets"] if " | " in s]
    base = {**results, "test_sets": sets}
    parts = [f"# {results['title'] or results['experiment']}", "",
             f"Seeds: {seeds}. Values in %: "
             + ("mean ± std over seeds" if len(results["seeds"]) > 1 else "one seed, so no spread over seeds")
             + "; intervals: 95% percentile bootstrap over test images of the seed-mean.", "", anomaly_markdown(base, row_header)]
    if results.get("paired"):
        parts += ["", "Paired differences B − A (points; 95 % interval and two-sided p over a paired bootstrap of "
                  "the test images" + (" and the seeds" if len(results["seeds"]) > 1 else "") + "):", "",
                  paired_markdown(results["paired"], sets)]
    for metric, label in (("ap", "AP"), ("fpr95", "FPR95"), ("auroc", "AUROC")) if views else ():
        parts += ["", f"{label} (%) per anomaly size (visible pixels of a connected anomaly; the other anomalies "
                  "not evaluated) and per shift type:", "", breakdown_markdown(results, views, metric, row_header)]
    if views and results.get("paired"):
        parts += ["", "Paired AP differences B − A per view (points):", "",
                  paired_markdown(results["paired"], views, metrics=("ap",))]
    if results.get("shift_miou"):
        parts += ["", "Inlier mIoU of the pretrained model on the val scenes under each shift:", "",
                  shift_miou_markdown(results["shift_miou"])]
    if table == "efficiency":
        parts += ["", efficiency_markdown(results, row_header)]
    return "\n".join(parts) + "\n"


def plot_experiment(results: dict, path: str | Path) -> None:
    """AP (mean ± std over seeds) per setting, one panel per test set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in results["test_sets"] if " | " not in s]
    labels = [r["label"] for r in results["rows"]]
    fig, axes = plt.subplots(1, len(sets), figsize=(max(4.0, 0.6 * len(labels) + 2) * len(sets), 3.5), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        means = [100 * (r["metrics"][s]["ap"]["mean"] or 0) for r in results["rows"]]
        stds = [100 * r["metrics"][s]["ap"]["std"] for r in results["rows"]]
        ax.bar(range(len(labels)), means, yerr=stds, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_ylabel("AP (%)")
        ax.set_title(s)
    fig.suptitle(results["title"] or results["experiment"])
    fig.tight_layout()
    from pebal.atomic import write_atomically

    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
