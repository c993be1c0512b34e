"""``pebal experiment NAME``: run (or resume) a paper-table experiment from
``configs/experiments/NAME.yaml`` (or a YAML path) and print its markdown table.

On real data (``--test-set``, ``--cityscapes``) the runs use the paper's recipe (``--preset
paper``) unless ``--preset`` names another; on the embedded benchmark, the config's preset."""

from __future__ import annotations

from pebal.cli.options import device, non_negative_int, positive_int


def register(subparsers) -> None:
    from pebal.cli.train import add_data_arguments
    from pebal.config import PRESETS

    parser = subparsers.add_parser("experiment", help="run a paper-table experiment (resumable, several seeds)")
    parser.add_argument("name", help="methods | ablation | outlier_diversity | outlier_size | efficiency, "
                                     "or a YAML file")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="training preset of every run (default: paper on real data, else the config's)")
    add_data_arguments(parser)
    parser.add_argument("--checkpoint", help="pretrained checkpoint (real data: e.g. NVIDIA's cityscapes_best.pth)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", help="training seeds (default: the config's, 0 1 2)")
    parser.add_argument("--out", help="output folder (default runs/experiments/NAME)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a training config value of every run, e.g. --set optim.max_steps=100")
    parser.add_argument("--test-set", dest="test_sets", action="append", metavar="NAME[:SPLIT]=ROOT",
                        help="evaluate on this data set instead of the embedded test sets (repeatable), e.g. "
                             "--test-set lostandfound:test=/data/lostandfound")
    parser.add_argument("--bootstrap", type=positive_int,
                        help="bootstrap replicates over test images (default: the config's, 1000)")
    parser.add_argument("--device", default="cpu", type=device, help="torch device of the evaluation (training picks its own)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from pebal.cli.train import data_overrides
    from pebal.experiments import run_experiment

    # --out is the experiment's folder, not a training run's: keep it out of the training overrides
    overrides = [*args.overrides, *data_overrides(args, keys=("checkpoint",))]
    results = run_experiment(args.name, out=args.out, seeds=args.seeds, overrides=overrides,
                             device=args.device, progress=not args.quiet, log=None if args.quiet else print,
                             bootstrap_samples=args.bootstrap, test_sets=args.test_sets, preset=args.preset)
    out = Path(args.out) if args.out else Path("runs") / "experiments" / results["experiment"]
    print(f"preset: {results['preset']}")
    print((out / "results.md").read_text())
    print(f"results: {out}/ (results.json, results.md, results.png, runs/)")
    return 0

