"""``pebal pretrain``: train the small inlier model on the synthetic split and write its card.

Defaults come from :class:`pebal.training.pretrain.PretrainConfig`; ``--config FILE.yaml`` overrides
them and command-line flags override the file. Writes the checkpoint (``--output``), the
model card (``--card``) and the run summary as JSON next to the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

#: flag -> PretrainConfig field, for every flag that maps one to one
_FIELDS = (
    "data_root", "data_seed", "data_version", "size", "output", "seed", "steps", "time_budget_s", "batch_size", "lr",
    "weight_decay", "warmup_steps", "scale_range", "crop_size", "colour_jitter", "class_weight_power", "max_class_weight",
    "ohem_fraction", "threads", "eval_every", "log_every", "max_train_images", "max_val_images", "init_checkpoint",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file of PretrainConfig fields")
    parser.add_argument("--data-root", help="folder of the synthetic benchmark (generated if missing)")
    parser.add_argument("--data-seed", type=int, help="seed of the generated benchmark")
    parser.add_argument("--data-version", choices=("1", "2", "3"),
                        help="embedded benchmark version generated when --data-root holds none (default 3; "
                             "without --data-root: the version's default folder, e.g. <cache>/synth for 1)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="scene size")
    parser.add_argument("--output", help="checkpoint path (.safetensors)")
    parser.add_argument("--card", default=None,
                        help="model card path (default: MODEL_CARD.md next to --output; '' to skip)")
    parser.add_argument("--seed", type=int, help="seed of initialisation, shuffling and augmentation")
    parser.add_argument("--steps", type=int, help="optimiser steps (defines the schedule)")
    parser.add_argument("--time-budget-s", type=float, help="stop early after this many seconds")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--scale-range", type=float, nargs=2, metavar=("MIN", "MAX"))
    parser.add_argument("--crop-size", type=int, nargs=2, metavar=("H", "W"), help="training crop (default: scene size)")
    parser.add_argument("--colour-jitter", type=float)
    parser.add_argument("--class-weight-power", type=float, help="0 = unweighted cross-entropy")
    parser.add_argument("--max-class-weight", type=float)
    parser.add_argument("--ohem-fraction", type=float, help="average only the hardest fraction of pixels")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--eval-every", type=int, help="val mIoU every N steps (0: only at the end)")
    parser.add_argument("--log-every", type=int)
    parser.add_argument("--max-train-images", type=int)
    parser.add_argument("--max-val-images", type=int)
    parser.add_argument("--init-checkpoint", help="start from these weights (same architecture), e.g. the v1 model")
    parser.add_argument("--no-colour-baseline", action="store_true", help="skip the colour-classifier control")


def register(subparsers) -> None:
    parser = subparsers.add_parser("pretrain", help="train the small inlier segmentation model (CPU)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def resolve_config(args: argparse.Namespace):
    """PretrainConfig from defaults, then ``--config``, then the flags given."""
    import yaml

    from pebal.training.pretrain import PretrainConfig

    values: dict = {}
    if args.config is not None:
        if not args.config.is_file():
            raise SystemExit(f"pebal pretrain: config file {args.config} does not exist")
        loaded = yaml.safe_load(args.config.read_text()) or {}
        known = {f.name for f in dataclasses.fields(PretrainConfig)}
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise SystemExit(f"pebal pretrain: {args.config} has unknown keys {unknown}; valid keys: {sorted(known)}")
        values.update(loaded)
    for name in _FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    for name in ("size", "scale_range", "crop_size"):
        if name in values:
            values[name] = tuple(values[name])
    if "data_version" in values and "data_root" not in values:
        from pebal.paths import default_benchmark_root

        values["data_root"] = str(default_benchmark_root(values["data_version"]))
    return PretrainConfig(**values)


def run(args: argparse.Namespace, command: str | None = None) -> int:
    from pebal.atomic import write_bytes_atomically
    from pebal.evaluation.colour_baseline import ColourLookupClassifier
    from pebal.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy
    from pebal.training.model_card import measure_forward_ms, write_model_card
    from pebal.models import load_checkpoint
    from pebal.training.pretrain import load_split, open_synthetic_split, pretrain, synthetic_data_source

    cfg = resolve_config(args)
    if command is None:
        command = "pebal pretrain " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    train = load_split(open_synthetic_split(cfg, "train"), cfg.max_train_images)
    val = load_split(open_synthetic_split(cfg, "val"), cfg.max_val_images)
    summary = pretrain(cfg, data=(*train, *val), data_source=synthetic_data_source(cfg.data_root))

    summary["command"] = command
    summary["file_size_bytes"] = Path(cfg.output).stat().st_size
    summary["threads"] = cfg.threads
    network = load_checkpoint(cfg.output).network
    summary["forward_ms"] = measure_forward_ms(network, size=tuple(cfg.size))
    print(f"forward {summary['forward_ms']:.1f} ms per image; file {summary['file_size_bytes'] / 1e6:.2f} MB")
    if not args.no_colour_baseline:
        colour = ColourLookupClassifier(cfg.num_classes).fit(*train)
        conf = confusion_matrix(colour.predict(val[0]), val[1], cfg.num_classes)
        iou = iou_per_class(conf)
        classes = summary["val_classes"]
        summary["colour_baseline"] = {
            "bits": colour.bits,
            "iou": {int(c): float(iou[c]) for c in classes},
            "miou": mean_iou(conf, classes),
            "pixel_accuracy": pixel_accuracy(conf),
        }
        print(f"colour lookup: val mIoU {summary['colour_baseline']['miou']:.4f} "
              f"(CNN {summary['val_miou']:.4f})")
    card_path = str(Path(cfg.output).with_name("MODEL_CARD.md")) if args.card is None else args.card
    if card_path:
        card = write_model_card(card_path, summary)
        summary_path = card.with_suffix(".json")
        write_bytes_atomically(summary_path, (json.dumps(summary, indent=1, default=_jsonable) + "\n").encode())
        print(f"wrote {cfg.output}, {card}, {summary_path}")
    return 0


def _jsonable(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
