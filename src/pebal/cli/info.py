"""``pebal info``: versions, registered models and label conventions."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="print versions, models and label conventions")
    parser.set_defaults(func=run)


def run(args) -> int:
    import torch

    from pebal import __version__, labels
    from pebal.models import list_models

    print(f"pebal {__version__}, torch {torch.__version__}")
    print(f"models: {', '.join(list_models())}")
    print(f"labels: train ids 0..Y-1, outlier {labels.OUTLIER_INDEX}, void {labels.IGNORE_INDEX}; "
          f"evaluation {labels.EVAL_VALUES}")
    print(f"cityscapes classes: {', '.join(labels.CITYSCAPES_CLASSES)}")
    return 0
