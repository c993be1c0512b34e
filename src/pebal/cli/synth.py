"""``pebal synth``: generate (or reuse) the embedded procedural benchmark."""

from __future__ import annotations

from pebal.cli.options import non_negative_int, positive_int


def _size(text: str) -> tuple[int, int]:
    import argparse

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 128x256 (height x width), got {text!r}") from None
    return h, w


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="generate the embedded driving-scene benchmark (cached)",
        description="Write inlier train/val scenes, outlier-exposure cut-outs and anomaly test sets "
                    "(Fishyscapes layout) under --out; reuse them when they already match (a damaged file is "
                    "re-rendered and named). Only files it wrote itself are ever replaced or deleted: a "
                    "generated folder that holds anything else is refused.")
    parser.add_argument("--out", required=True, help="output folder (e.g. .cache/synth)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="benchmark seed (default 0)")
    parser.add_argument("--size", type=_size, default=(128, 256), help="HxW (default 128x256)")
    parser.add_argument("--count", type=non_negative_int,
                        help="scenes per anomaly test set (default: the version's, 300 for v1, 1000 for v2 / v3)")
    parser.add_argument("--train", type=non_negative_int,
                        help="inlier training scenes (default: the version's, 3000 for v1, 6000 for v2 / v3)")
    parser.add_argument("--val", type=non_negative_int, help="inlier validation scenes (default 300)")
    parser.add_argument("--oe", type=non_negative_int, help="outlier-exposure cut-outs (default 600)")
    parser.add_argument("--workers", type=positive_int, default=1, help="rendering processes (default 1)")
    parser.add_argument("--verify", action="store_true",
                        help="on reuse compare every file's SHA-256 with the manifest (default: sizes only)")
    parser.add_argument("--benchmark-version", choices=("1", "2", "3"),
                        help="embedded benchmark version (default: the one already under --out, else 3)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import json
    import time

    from pathlib import Path

    from pebal.data.synthetic import SynthCounts, ensure_benchmark
    from pebal.data.synthetic.cache import VERSION_COUNTS, _existing_version

    version = args.benchmark_version or _existing_version(Path(args.out))
    default = VERSION_COUNTS[version]
    given = {"train": args.train, "val": args.val, "outlier_exposure": args.oe, "test": args.count}
    counts = SynthCounts(**{k: getattr(default, k) if v is None else v for k, v in given.items()})
    start = time.perf_counter()
    root = ensure_benchmark(args.out, seed=args.seed, size=args.size, counts=counts, workers=args.workers, log=print,
                            verify=args.verify, version=version)
    manifest = json.loads((root / "manifest.json").read_text())
    print(f"benchmark ready at {root} in {time.perf_counter() - start:.1f} s: seed {manifest['seed']}, "
          f"size {manifest['size'][0]}x{manifest['size'][1]}, counts {manifest['counts']}, "
          f"version {manifest['version']}, content sha256 {manifest['content_sha256'][:16]} "
          f"({'SHA-256 of every file verified' if args.verify else 'file sizes checked'})")
    print(f"test sets: {', '.join(manifest['test_sets'])}")
    return 0
