"""The model card of the shipped small model: how it was made and what it measures.

:func:`write_model_card` renders the summary returned by :func:`pebal.training.pretrain.pretrain`
(plus the colour-classifier control and a forward-time measurement) as Markdown.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from pebal.atomic import write_bytes_atomically
from pebal.labels import CITYSCAPES_CLASSES


def measure_forward_ms(
    network: torch.nn.Module, size: tuple[int, int] = (128, 256), batch_size: int = 8, repeats: int = 5
) -> float:
    """Median wall time (ms) per image of an eval-mode forward pass on random input.

    Uses the current ``torch.get_num_threads()``; one warm-up pass is not timed.
    """
    network.eval()
    x = torch.randn(batch_size, 3, *size, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        network(x)
        for _ in range(repeats):
            start = time.perf_counter()
            network(x)
            times.append((time.perf_counter() - start) / batch_size * 1000.0)
    return float(np.median(times))


def _class_name(c: int) -> str:
    return CITYSCAPES_CLASSES[c] if c < len(CITYSCAPES_CLASSES) else f"class {c}"


def _threads(n: int) -> str:
    return f"{n} CPU thread" + ("s" if n != 1 else "")


def _fmt(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.3f}"


def render_model_card(summary: dict) -> str:
    """Markdown text of the card. ``summary`` is :func:`pebal.training.pretrain.pretrain`'s result plus
    ``command``, ``file_size_bytes``, ``forward_ms``, ``threads`` and ``colour_baseline``
    (``{"bits", "iou": {class: IoU}, "miou", "pixel_accuracy"}``)."""
    cfg = summary["config"]
    # JSON round trips turn the integer class keys into strings
    val_iou = {int(k): v for k, v in summary["val_iou"].items()}
    colour = summary.get("colour_baseline")
    colour_iou = {int(k): v for k, v in colour["iou"].items()} if colour else {}
    lines = [
        "# deeplabv3plus_small: the shipped inlier segmentation model",
        "",
        "A small DeepLabv3+ (`pebal.models.small_deeplab`, registry name `deeplabv3plus_small`) in the",
        "layout of the WideResNet38 reference: pre-activation residual encoder (output stride 8),",
        "ASPP, decoder with a stride-2 skip, and the separate `final` block that PEBAL fine-tunes.",
        "It was trained on the **synthetic inlier train split** of the embedded benchmark only",
        "(no anomalies, no outlier exposure). Inputs: RGB normalised with the ImageNet mean/std",
        "(`pebal.data.transforms.image_to_tensor`); outputs: 19 Cityscapes train-id logits.",
        "",
        "| | |",
        "|---|---|",
        f"| parameters | {summary['parameters']:,} |",
        f"| file | `{cfg['output']}`, {summary['file_size_bytes'] / 1e6:.2f} MB (float32 safetensors) |",
        f"| forward time | {summary['forward_ms']:.1f} ms per image at {cfg['size'][0]}x{cfg['size'][1]}, "
        f"batch 8, {_threads(summary['threads'])} (eval mode) |",
        f"| val mIoU | **{summary['val_miou']:.3f}** over the {len(summary['val_classes'])} classes present in val |",
        f"| val pixel accuracy | {summary['val_pixel_accuracy']:.3f} |",
        "",
        "## Reproduce",
        "",
        "```bash",
        summary["command"],
        "```",
        "",
        f"- seed {cfg['seed']} (model initialisation, shuffling, augmentation); data generated with seed "
        f"{cfg['data_seed']} at {cfg['size'][0]}x{cfg['size'][1]} under `{cfg['data_root']}` "
        f"({summary['train_images']} train / {summary['val_images']} val scenes; {summary.get('data_source', '')})",
        f"- {summary['steps_done']} steps of batch {cfg['batch_size']} "
        f"({summary['steps_done'] * cfg['batch_size'] / summary['train_images']:.1f} epochs), AdamW lr {cfg['lr']} "
        f"weight decay {cfg['weight_decay']}, {cfg['warmup_steps']} warm-up steps then poly({cfg['poly_power']})",
        f"- augmentation: scale {tuple(cfg['scale_range'])}, random crop/pad to "
        f"{'x'.join(map(str, cfg.get('crop_size') or cfg['size']))}, horizontal flip, colour jitter {cfg['colour_jitter']}",
        f"- loss: cross-entropy (255 ignored), class weights f_c^-{cfg['class_weight_power']} "
        f"(clipped at {cfg['max_class_weight']}x the smallest)"
        + (f", OHEM over the hardest {cfg['ohem_fraction']:.0%} pixels" if cfg.get("ohem_fraction") else ""),
        f"- training time: **{summary['training_time_s'] / 60:.1f} min** on {_threads(cfg['threads'])} "
        f"({summary.get('machine', platform.processor() or platform.machine())}, torch {torch.__version__}); "
        "every random choice is seeded; bit-identical results on another machine or torch build are not "
        "guaranteed (not checked)",
    ]
    if summary.get("note"):
        lines += [f"- note: {summary['note']}"]
    lines += [
        "",
        "## Per-class IoU on the val split",
        "",
        "Only the classes that occur in the benchmark's val labels are listed and averaged.",
        "",
        "| train id | class | CNN IoU |" + (" colour-lookup IoU |" if colour else ""),
        "|---:|---|---:|" + ("---:|" if colour else ""),
    ]
    for c in summary["val_classes"]:
        row = f"| {c} | {_class_name(c)} | {_fmt(val_iou[c])} |"
        if colour:
            row += f" {_fmt(colour_iou.get(c, float('nan')))} |"
        lines.append(row)
    lines.append(
        f"| | **mIoU** | **{summary['val_miou']:.3f}** |" + (f" **{colour['miou']:.3f}** |" if colour else "")
    )
    if colour:
        lines += [
            "",
            "## Control: a per-pixel colour classifier",
            "",
            f"`pebal.evaluation.colour_baseline.ColourLookupClassifier` quantises RGB to {colour['bits']} bits per",
            "channel and predicts the majority train class of each colour cell (the best a rule on one",
            "pixel's colour can do on this data). Fitted on every labelled train pixel, evaluated on val:",
            "",
            "| classifier | val mIoU | val pixel accuracy |",
            "|---|---:|---:|",
            f"| colour lookup (RGB only) | {colour['miou']:.3f} | {colour['pixel_accuracy']:.3f} |",
            f"| deeplabv3plus_small (this model) | {summary['val_miou']:.3f} | {summary['val_pixel_accuracy']:.3f} |",
            "",
            "The gap is what shape and context are worth on this benchmark.",
        ]
    if summary.get("history"):
        lines += ["", "## Val mIoU during training", "", "| step | minutes | val mIoU |", "|---:|---:|---:|"]
        for h in summary["history"]:
            lines.append(f"| {h['step']} | {h['seconds'] / 60:.1f} | {h['val_miou']:.3f} |")
        lines.append(f"| {summary['steps_done']} | {summary['training_time_s'] / 60:.1f} | {summary['val_miou']:.3f} |")
    return "\n".join(lines) + "\n"


def write_model_card(path: str | os.PathLike, summary: dict) -> Path:
    path = Path(path)
    write_bytes_atomically(path, render_model_card(summary).encode("utf-8"))
    return path
