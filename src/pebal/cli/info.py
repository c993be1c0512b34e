"""``pebal info``: versions, and everything that can be named on the command line."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="print versions, data sets, models, presets, scores, methods, paths and label conventions"
    )
    parser.add_argument("--config", nargs="?", const="embedded", metavar="PRESET",
                        help="print every training config key of a preset (default embedded) with its value")
    parser.set_defaults(func=run)


def _print_config(preset: str) -> int:
    import yaml

    from pebal.config import PRESETS, load_config

    if preset not in PRESETS:
        raise SystemExit(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    print(f"# the {preset} preset, resolved; change a key with --set SECTION.KEY=VALUE or --config FILE.yaml")
    print(yaml.safe_dump(load_config(preset).to_dict(), sort_keys=False), end="")
    return 0


def run(args) -> int:
    if args.config is not None:
        return _print_config(args.config)
    import torch

    from pebal import __version__, labels
    from pebal.config import PRESETS
    from pebal.data import list_datasets
    from pebal.losses import METHODS
    from pebal.models import list_models
    from pebal.paths import DEFAULT_BENCHMARK_VERSION, SHIPPED_MODELS, cache_dir, default_benchmark_root, shipped_weights
    from pebal.scores import ABSTENTION_SCORES, SCORES

    print(f"pebal {__version__}, torch {torch.__version__}")
    print(f"data sets (--dataset, open_dataset): {', '.join(list_datasets())}")
    print(f"models (create_model): {', '.join(list_models())}")
    print(f"presets (--preset): {', '.join(PRESETS)}")
    print(f"training methods (loss.method): {', '.join([*METHODS, 'em'])}")
    print(f"scores: {', '.join([*SCORES, *ABSTENTION_SCORES, 'sml', 'mahalanobis'])}")
    print(f"shipped model: {shipped_weights()} (benchmark v{DEFAULT_BENCHMARK_VERSION}; v1's: "
          f"{SHIPPED_MODELS['1']}, --preset embedded-v1)")
    print(f"cache: {cache_dir()} (PEBAL_CACHE_DIR moves it); embedded benchmark v{DEFAULT_BENCHMARK_VERSION} "
          f"in {default_benchmark_root()}, v1 in {default_benchmark_root('1')}")
    print(f"labels: train ids 0..Y-1, outlier {labels.OUTLIER_INDEX}, void {labels.IGNORE_INDEX}; "
          f"evaluation {labels.EVAL_VALUES}")
    print(f"cityscapes classes: {', '.join(labels.CITYSCAPES_CLASSES)}")
    return 0
