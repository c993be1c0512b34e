"""``pebal demo``: generate or reuse the embedded benchmark, fine-tune the shipped model with
PEBAL, evaluate every method on every test set, write a report folder."""

from __future__ import annotations

from pebal.cli.options import non_negative_int, positive_int


def register(subparsers) -> None:
    from pebal.cli.train import add_config_arguments

    parser = subparsers.add_parser("demo", help="the method end to end on the embedded benchmark")
    add_config_arguments(parser)
    parser.set_defaults(out="runs/demo")
    parser.add_argument("--bn-control-steps", type=positive_int, default=100,
                        help="steps of the batch-norm-only control run (learning rate 0)")
    parser.add_argument("--examples", type=non_negative_int, default=2, help="example rows per test set in examples.png")
    parser.add_argument("--workers", type=positive_int, default=2, help="processes generating the benchmark if needed")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pebal.evaluation.demo import run_demo

    overrides = list(args.overrides)
    for key in ("checkpoint", "seed"):
        value = getattr(args, key)
        if value is not None:
            overrides.append(f"{key}={value}")
    results = run_demo(args.out, preset=args.preset, config_file=args.config, overrides=overrides,
                       bn_control_steps=args.bn_control_steps, examples_per_set=args.examples,
                       workers=args.workers, progress=not args.quiet)
    from pathlib import Path

    print((Path(args.out) / "results.md").read_text())
    print(f"report: {args.out}/ (results.json, results.md, curves_*.png, examples.png)")
    model = results["calibrated_model"]
    print(f"calibrated model: {model['path']} (rule {model['rule']} on {model['data']}: threshold "
          f"{model['threshold']:.4g}, flags {100 * model['flagged_fraction']:.2f} % of their pixels)")
    test_images = Path(results["config"]["data"]["root"]).resolve() / "test" / "road-obstacles" / "original"
    print(f"next: pebal predict --checkpoint {model['path']} {test_images} --out runs/predict")
    failed = [k for k, v in results["checks"].items()
              if isinstance(v, dict) and not (v["ap_beats_all_baselines"] and v["fpr95_beats_all_baselines"])]
    if failed:
        print(f"note: PEBAL does not beat every baseline in AP and FPR95 on: {', '.join(failed)}")
    return 0
