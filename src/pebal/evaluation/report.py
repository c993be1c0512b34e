"""The report folder of an evaluation: results.json, a markdown table, ROC / PR plots and an
example grid in the layout of the paper's Fig. 1 (input, inlier segmentation, anomaly heat
map, final prediction with anomalous pixels painted cyan).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pebal.atomic import write_atomically

METRIC_COLUMNS = (("auroc", "AUROC"), ("ap", "AP"), ("fpr95", "FPR95"))


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def anomaly_table(results: dict[str, dict[str, dict]], methods: list[str]) -> str:
    """Markdown: one row per method, AUROC / AP / FPR95 (%) per test set; best AP and FPR95 bold."""
    sets = list(results)
    header = "| method | " + " | ".join(f"{s} {label}" for s in sets for _, label in METRIC_COLUMNS) + " |"
    rule = "|---|" + "---:|" * (len(sets) * len(METRIC_COLUMNS))
    best = {}
    for s in sets:
        present = [m for m in methods if m in results[s]]
        best[(s, "auroc")] = max(results[s][m]["auroc"] for m in present)
        best[(s, "ap")] = max(results[s][m]["ap"] for m in present)
        best[(s, "fpr95")] = min(results[s][m]["fpr95"] for m in present)
    rows = [header, rule]
    for m in methods:
        cells = []
        for s in sets:
            for key, _ in METRIC_COLUMNS:
                value = results[s].get(m, {}).get(key)
                text = _pct(value)
                cells.append(f"**{text}**" if value is not None and value == best[(s, key)] else text)
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def segmentation_table(miou: dict[str, dict]) -> str:
    """Markdown: mIoU and per-class IoU (%) of each model."""
    models = list(miou)
    classes = list(next(iter(miou.values()))["iou"])
    rows = ["| model | mIoU | " + " | ".join(classes) + " |", "|---|---:|" + "---:|" * len(classes)]
    for m in models:
        cells = [_pct(miou[m]["iou"].get(c)) for c in classes]
        rows.append(f"| {m} | {_pct(miou[m]['miou'])} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_curves(curves: dict[str, dict], title: str, path: str | Path) -> None:
    """ROC (left) and precision-recall (right) curves of every method on one test set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for method, c in curves.items():
        roc.plot(c["roc"]["fpr"], c["roc"]["tpr"], label=method, lw=1.4)
        pr.plot(c["pr"]["recall"], c["pr"]["precision"], label=method, lw=1.4)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}", xlim=(0, 1), ylim=(0, 1.01))
    roc.axhline(0.95, color="grey", lw=0.6, ls="--")
    pr.set(xlabel="recall", ylabel="precision", title=f"PR — {title}", xlim=(0, 1), ylim=(0, 1.01))
    roc.legend(loc="lower right", fontsize=8)
    pr.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def example_grid(rows: list[dict], path: str | Path, score_range: tuple[float, float]) -> None:
    """The paper's Fig. 1 layout, one row per example.

    Each row is ``{"image", "segmentation", "score", "mask", "label", "title"}``; columns:
    input (anomalies outlined), inlier segmentation, heat map on the fixed ``score_range``,
    final prediction (anomalous pixels cyan).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pebal.inference.render import final_prediction, heatmap, mask_outline, segmentation_image

    titles = ("input (ground truth outlined)", "inlier segmentation", "anomaly score (energy)", "final prediction")
    h, w = rows[0]["image"].shape[:2]
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * 3.2, len(rows) * 3.2 * h / w + 0.6), squeeze=False)
    for r, row in enumerate(rows):
        framed = row["image"].copy()
        framed[mask_outline(row["label"] == 1)] = (255, 0, 0)
        panels = (
            framed,
            segmentation_image(row["segmentation"]),
            heatmap(row["score"], score_range),
            final_prediction(row["segmentation"], row["mask"]),
        )
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r, 0].set_ylabel(row["title"], fontsize=8)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def summary_markdown(results: dict, methods: list[str], test_sets: list[str]) -> str:
    """The human-readable report of ``pebal demo`` / ``pebal evaluate``."""
    parts = ["# PEBAL evaluation", ""]
    parts += ["## Anomaly segmentation (pixel level, %)", "", anomaly_table({s: results[s] for s in test_sets}, methods), ""]
    if "miou" in results:
        parts += ["## Inlier segmentation (val, IoU %)", "", segmentation_table(results["miou"]), ""]
    if "timings" in results:
        t = results["timings"]
        parts += ["## Timings (s)", "", "| step | seconds |", "|---|---:|"]
        parts += [f"| {k} | {v:.1f} |" for k, v in t.items()] + [""]
    return "\n".join(parts)
