"""``pebal export-scores``: per-frame anomaly score maps for hidden test sets (SMIYC, Fishyscapes)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-scores",
        help="write per-frame anomaly score maps (SMIYC HDF5, .npy or 16-bit PNG)",
    )
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (pebal, NVIDIA or PEBAL format)")
    parser.add_argument("--dataset", required=True, help="registered data set name, e.g. smiyc-anomaly")
    parser.add_argument("--root", required=True, help="the data set folder")
    parser.add_argument("--split", default=None, help="data set split (e.g. test for SMIYC's hidden set)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--format", default=None, choices=["smiyc", "npy", "png"],
                        help="output format (default: smiyc for smiyc-anomaly, smiyc-obstacle and lostandfound, "
                             "npy for the others)")
    parser.add_argument("--method", default="PEBAL", help="method name of anomaly_p/<method>/ (smiyc)")
    parser.add_argument("--benchmark-name", default=None,
                        help="data set folder name of anomaly_p/<method>/<name>/ (default: the folder the "
                             "SMIYC benchmark reads the data set from: AnomalyTrack-all, ObstacleTrack-all, "
                             "LostAndFound-test)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--overwrite", action="store_true", help="recompute frames whose output exists")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    from pebal.data import open_dataset
    from pebal.inference.score_export import (
        benchmark_dataset_name,
        default_format,
        export_scores,
        smiyc_split_name,
    )
    from pebal.models import load_checkpoint

    kwargs = {} if args.split is None else {"split": args.split}
    dataset = open_dataset(args.dataset, args.root, **kwargs)
    split = args.split if args.split is not None else getattr(dataset, "split", None)
    fmt = args.format or default_format(args.dataset)
    name = args.benchmark_name or benchmark_dataset_name(args.dataset, split)
    model = load_checkpoint(args.checkpoint, map_location=args.device)
    # under torchrun every process takes every world_size-th frame
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    written = export_scores(model, dataset, args.out, fmt=fmt, method=args.method,
                            dataset_name=name, device=args.device, overwrite=args.overwrite,
                            rank=rank, world_size=world_size)
    print(f"wrote {len(written)} score maps ({fmt}) under {args.out}"
          + (f" [process {rank} of {world_size}]" if world_size > 1 else ""))
    split_name = smiyc_split_name(args.dataset, split)
    if fmt == "smiyc" and split_name is not None and args.benchmark_name is None:
        print(f"SegmentMeIfYouCan evaluates these {len(dataset)} frames as {split_name} and reads them from "
              f"{args.out}/anomaly_p/{args.method}/{name}/ (set DIR_OUTPUTS={args.out} for its code)")
    return 0
