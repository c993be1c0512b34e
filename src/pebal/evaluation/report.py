"""The report folder of an evaluation: results.json, a markdown table, ROC / PR plots and an
example grid in the layout of the paper's Fig. 1 (input, inlier segmentation, anomaly heat
map, final prediction with anomalous pixels painted cyan).

JSON is written strictly (no NaN / Infinity): a non-finite number, e.g. an undefined metric,
becomes ``null``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pebal.atomic import write_atomically

METRIC_COLUMNS = (("auroc", "AUROC"), ("ap", "AP"), ("fpr95", "FPR95"))


def standard_json(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {k: standard_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [standard_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: Any) -> None:
    """Write strict JSON atomically (a reader never sees half a file; see :func:`standard_json`)."""
    text = json.dumps(standard_json(data), indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomically(path, lambda tmp: Path(tmp).write_text(text))


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


#: Line styles of the curves: PEBAL solid and thick, the control dashed, each baseline its own
#: dash pattern, so that curves lying on top of each other stay distinguishable.
_STYLES = {
    "pebal": {"lw": 2.4, "ls": "-", "color": "#1f77b4", "zorder": 5},
    "bn_control": {"lw": 1.6, "ls": (0, (6, 2)), "color": "#2ca02c", "zorder": 4},
    "msp": {"lw": 1.4, "ls": (0, (1, 1.5)), "color": "#ff7f0e"},
    "max_logit": {"lw": 1.4, "ls": (0, (4, 2)), "color": "#9467bd"},
    "entropy": {"lw": 1.4, "ls": (0, (5, 1.5, 1, 1.5)), "color": "#d62728"},
    "energy": {"lw": 1.4, "ls": (0, (2, 2)), "color": "#8c564b"},
}


def plot_curves(curves: dict[str, dict], title: str, path: str | Path, metrics: dict[str, dict] | None = None) -> None:
    """ROC (left) and precision-recall (right) curves of every method on one test set.

    ``metrics`` (``{method: {"auroc", "ap", "fpr95"}}``, optional) puts each method's AUROC,
    FPR95 and AP (%) in the legends. The ROC plot marks TPR = 0.95 (where FPR95 is read) and the
    PR plot the precision of a random score (the share of anomalous pixels), both in the legend;
    the PR plot's precision axis ends a little above the highest curve at recall >= 0.05 (the
    noisy spike of the first few flagged pixels may leave the plot).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4.6))
    metrics = metrics or {}
    prevalence, top = None, 0.0
    for method, c in curves.items():
        style = _STYLES.get(method, {"lw": 1.4})
        m = metrics.get(method, {})
        roc_label = method if "auroc" not in m else f"{method}: AUROC {100 * m['auroc']:.1f}, FPR95 {100 * m['fpr95']:.1f}"
        pr_label = method if "ap" not in m else f"{method}: AP {100 * m['ap']:.1f}"
        roc.plot(c["roc"]["fpr"], c["roc"]["tpr"], label=roc_label, **style)
        pr.plot(c["pr"]["recall"], c["pr"]["precision"], label=pr_label, **style)
        if len(c["pr"]["precision"]):
            # the first few flagged pixels give a noisy precision near 1; scale to the rest
            recall_all = np.asarray(c["pr"]["recall"])
            body = np.asarray(c["pr"]["precision"])[recall_all >= 0.05]
            top = max(top, float(body.max()) if body.size else 1.0)
            # at recall 1 every pixel is flagged: the precision is the share of anomalous pixels
            recall = np.asarray(c["pr"]["recall"])
            prevalence = float(np.asarray(c["pr"]["precision"])[int(np.argmax(recall))])
    roc.axhline(0.95, color="grey", lw=0.9, ls=":", label="TPR = 0.95 (FPR95 is the FPR here)", zorder=1)
    roc.set(xlabel="false positive rate (inlier pixels flagged)", ylabel="true positive rate (anomalous pixels caught)",
            title=f"ROC — {title}", xlim=(0, 1), ylim=(0, 1.01))
    if prevalence is not None:
        pr.axhline(prevalence, color="grey", lw=0.9, ls=":", label=f"random score ({100 * prevalence:.1f} % anomalous)",
                   zorder=1)
    # precision of weak scores stays low: a scale fitted to the curves (at least 0.25) keeps them apart
    pr.set(xlabel="recall (anomalous pixels caught)", ylabel="precision (flagged pixels that are anomalous)",
           title=f"precision-recall — {title}", xlim=(0, 1), ylim=(0, min(1.01, max(0.25, 1.15 * top))))
    for ax in (roc, pr):
        ax.grid(alpha=0.25)
    roc.legend(loc="lower right", fontsize=8, framealpha=0.9)
    pr.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


#: Colour of the ground-truth outline in the example grid: green is in neither the inferno heat
#: map nor the cyan of the prediction, and a black edge lets it read on bright panels too.
GROUND_TRUTH_COLOR = (0, 255, 0)


def _outline(panel: np.ndarray, label: np.ndarray | None) -> np.ndarray:
    """``panel`` with the anomalous region of ``label`` (== 1) outlined: green inside a black edge."""
    from scipy import ndimage

    from pebal.inference.render import mask_outline

    if label is None or not np.any(label == 1):
        return panel
    panel = panel.copy()
    region = label == 1
    width = max(2, round(min(region.shape) / 64))
    line = mask_outline(region, width=width)
    edge = ndimage.binary_dilation(line, iterations=max(1, width // 2)) & ~line
    panel[edge] = 0
    panel[line] = GROUND_TRUTH_COLOR
    return panel


def example_grid(rows: list[dict], path: str | Path, score_range: tuple[float, float],
                 threshold_note: str | None = None) -> None:
    """The paper's Fig. 1 layout, one row per example, with a colour bar and the threshold stated.

    Each row is ``{"image", "segmentation", "score", "mask", "label", "title"}`` and optionally
    ``"threshold"`` (the score at or above which ``mask`` is set). Columns: input, inlier
    segmentation, heat map on ``score_range`` (colour bar below, the threshold marked), final
    prediction (anomalous pixels cyan); the ground truth is outlined in green on the input,
    the heat map and the final prediction. Each row is labelled with its flagged fraction and
    the share of the anomalous pixels it catches; ``threshold_note`` says how the threshold
    was chosen.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.cm import ScalarMappable

    from pebal.inference.render import DEFAULT_COLORMAP, final_prediction, heatmap, segmentation_image

    thresholds = sorted({float(r["threshold"]) for r in rows if r.get("threshold") is not None})
    if len(thresholds) == 1:
        final_title = f"final prediction: score ≥ {thresholds[0]:.2f} in cyan"
    elif thresholds:
        final_title = "final prediction: score ≥ threshold (per row) in cyan"
    else:
        final_title = "final prediction (anomalies cyan)"
    titles = ("input (ground truth outlined green)", "inlier segmentation",
              "anomaly score (smoothed free energy)", final_title)
    h, w = rows[0]["image"].shape[:2]
    panel_w = 3.4
    fig_h = len(rows) * panel_w * h / w * 1.12 + 1.5
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * panel_w + 1.2, fig_h), squeeze=False)
    for r, row in enumerate(rows):
        label = row.get("label")
        panels = (
            _outline(row["image"], label),
            segmentation_image(row["segmentation"]),
            _outline(heatmap(row["score"], score_range), label),
            _outline(final_prediction(row["segmentation"], row["mask"]), label),
        )
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        lines = [row["title"]]
        mask = row.get("mask")
        if mask is not None:
            stats = f"flagged {100 * np.mean(mask):.1f} %"
            if label is not None and np.any(label == 1):
                stats += f", caught {100 * np.mean(mask[label == 1]):.0f} %"
            lines.append(stats)
            if len(thresholds) > 1 and row.get("threshold") is not None:
                lines.append(f"threshold {row['threshold']:.2f}")
        axes[r, 0].set_ylabel("\n".join(lines), fontsize=8)
    bottom = 1.3 / fig_h  # inches kept for the colour bar, its label and the note
    fig.tight_layout(rect=(0, bottom, 1, 1))
    # the colour bar under the heat-map column, the threshold marked on it
    box = axes[-1, 2].get_position()
    cax = fig.add_axes((box.x0, 0.75 / fig_h, box.width, 0.16 / fig_h))
    bar = fig.colorbar(ScalarMappable(Normalize(*score_range), DEFAULT_COLORMAP), cax=cax, orientation="horizontal")
    bar.ax.tick_params(labelsize=7)
    bar.set_label("anomaly score (higher = more anomalous; outside the range: saturated)", fontsize=7)
    for t in thresholds:
        if score_range[0] <= t <= score_range[1]:
            bar.ax.axvline(t, color="cyan", lw=2)
            bar.ax.axvline(t, color="black", lw=0.6)
    if threshold_note:
        fig.text(0.5, 0.08 / fig_h, f"cyan: pixels at or above the threshold ({threshold_note}); "
                 "green outline: ground truth", ha="center", va="bottom", fontsize=8)
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
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
