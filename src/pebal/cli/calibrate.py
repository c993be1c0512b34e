"""``pebal calibrate``: choose the anomaly threshold on validation data; write a calibrated checkpoint."""

from __future__ import annotations

from pebal.cli.options import device, positive_int

RULE_HELP = (
    "budget=X (default budget=1%%): flag at most X of the pixels of clean driving images -- a false-alarm "
    "budget that needs no anomaly labels; the default because a deployed mask must stay quiet on normal "
    "scenes (tpr95 flags most of every image of the embedded benchmark). On labelled anomaly data also: "
    "fpr=X (at most X of the inlier pixels), tpr95 (catch 95%% of the anomalous pixels), best-f1. "
    "X is a fraction (0.01) or a percentage (1%%)"
)


def _rule(text: str) -> str:
    """argparse type: a valid rule, unchanged (a bad one is a one-line usage error)."""
    import argparse

    from pebal.inference.calibrate import parse_rule

    try:
        parse_rule(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def register(subparsers) -> None:
    from pebal.inference.calibrate import DEFAULT_RULE

    parser = subparsers.add_parser(
        "calibrate", help="pick an anomaly threshold on validation data (default: flag 1%% of clean pixels)",
        description="Choose the threshold at or above which a pixel's score is anomalous and store it, with a "
                    "heat-map scale and what it flags, in a new calibrated checkpoint.")
    parser.add_argument("--checkpoint", required=True, help="checkpoint to calibrate (.safetensors; not modified "
                        "unless --in-place)")
    parser.add_argument("--dataset", required=True,
                        help="a folder (clean images, or labelled original/ + labels/), or a registered data-set "
                             "name with --root (cityscapes and synthetic-inlier count as clean images)")
    parser.add_argument("--root", help="data set root for a registered name")
    parser.add_argument("--split", help="split of a registered data set (e.g. val)")
    parser.add_argument("--rule", default=DEFAULT_RULE, type=_rule, help=RULE_HELP)
    parser.add_argument("--out", help="calibrated checkpoint to write (default: CHECKPOINT_STEM.calibrated.safetensors "
                        "beside the input)")
    parser.add_argument("--in-place", action="store_true", help="rewrite --checkpoint itself")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--max-images", type=positive_int, help="use only the first N images")
    parser.add_argument("--device", default="auto", type=device, help="auto (cuda if available), cpu, cuda:0, ...")
    parser.add_argument("--window", type=positive_int, nargs=2, metavar=("H", "W"), help="sliding-window tile size")
    parser.add_argument("--dry-run", action="store_true", help="print the result, write nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args) -> int:
    import sys

    from pebal.inference.calibrate_files import CalibrationInputError, calibrate_checkpoint

    try:
        result, written = calibrate_checkpoint(
            args.checkpoint, args.dataset, args.root, rule=args.rule, out=args.out, in_place=args.in_place,
            overwrite=args.overwrite, write=not args.dry_run, max_images=args.max_images, split=args.split,
            device=args.device, window=args.window, progress=not args.quiet, log=print,
        )
    except CalibrationInputError as error:
        print(f"pebal calibrate: {error}", file=sys.stderr)
        return 2
    print(result.describe())
    if written is not None:
        print(f"wrote {written} (threshold {result.threshold:.6g})")
        print(f"next: pebal predict --checkpoint {written} IMAGES_OR_VIDEO... --out OUT_FOLDER")
    return 0
