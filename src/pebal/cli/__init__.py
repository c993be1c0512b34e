"""The ``pebal`` command line: thin wiring of subcommands to library functions.

Each subcommand lives in its own module under :mod:`pebal.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order ``pebal --help`` lists them.
_COMMAND_MODULES = (
    "pebal.cli.info",
    "pebal.cli.synth",
    "pebal.cli.demo",
    "pebal.cli.train",
    "pebal.cli.evaluate",
    "pebal.cli.pretrain",
    "pebal.cli.predict",
    "pebal.cli.calibrate",
    "pebal.cli.export",
    "pebal.cli.data",
    "pebal.cli.export_scores",
    "pebal.cli.experiment",
)


def build_parser() -> argparse.ArgumentParser:
    from pebal import __version__

    parser = argparse.ArgumentParser(
        prog="pebal",
        description="PEBAL anomaly segmentation: train, evaluate, predict, export.",
    )
    parser.add_argument("--version", action="version", version=f"pebal {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pebal.threads import configure_environment

    configure_environment()  # before torch loads: threads = usable cores, idle threads sleep
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
