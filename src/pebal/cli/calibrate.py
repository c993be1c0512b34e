"""``pebal calibrate``: choose the anomaly threshold on validation data and store it in the checkpoint."""

from __future__ import annotations

from pebal.cli.options import device, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("calibrate", help="pick an anomaly threshold on validation data")
    parser.add_argument("--checkpoint", required=True, help="checkpoint to calibrate (rewritten in place)")
    parser.add_argument("--dataset", required=True,
                        help="data set name of the registry (e.g. folder), or a folder path (read as 'folder')")
    parser.add_argument("--root", help="data set root (default: --dataset when it is a folder)")
    parser.add_argument("--rule", default="tpr95",
                        help="tpr95 (threshold where 95%% of anomalous pixels are caught), best-f1, or fpr=X")
    parser.add_argument("--max-images", type=positive_int, help="use only the first N images")
    parser.add_argument("--device", default="auto", type=device, help="auto (cuda if available), cpu, cuda:0, ...")
    parser.add_argument("--window", type=positive_int, nargs=2, metavar=("H", "W"), help="sliding-window tile size")
    parser.add_argument("--dry-run", action="store_true", help="print the result, do not write the checkpoint")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from pebal.inference.calibrate import calibrate_checkpoint

    name, root = args.dataset, args.root
    if root is None:
        if not Path(name).is_dir():
            raise SystemExit(f"pebal calibrate: --dataset {name!r} is not a folder; pass --root for a named data set")
        name, root = "folder", name
    result = calibrate_checkpoint(
        args.checkpoint, name, root, rule=args.rule, max_images=args.max_images,
        device=args.device, window=args.window, write=not args.dry_run,
    )
    print(result.describe())
    if not args.dry_run:
        print(f"stored threshold {result.threshold:.6g} in {args.checkpoint}")
    return 0
