"""The ``pebal`` command line: thin wiring of subcommands to library functions.

Each subcommand lives in its own module under :mod:`pebal.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int`` (the exit status).

Every command follows one error contract (:mod:`pebal.cli.contract`): a failure ends with
one line ``pebal COMMAND: error: ...`` on stderr and the exit code of :mod:`pebal.errors`
(2 bad input, 1 failed run, 3 a bug, 130 interrupted); ``--debug`` (before or after the
command name) or ``PEBAL_DEBUG=1`` adds the traceback.
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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str):
        from pebal.cli.contract import one_line
        from pebal.errors import EXIT_BAD_INPUT

        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def _add_debug(parser: argparse.ArgumentParser, seen: set[int], top: bool = False) -> None:
    """``--debug`` on ``parser`` and every subcommand parser below it."""
    if id(parser) in seen:
        return
    seen.add(id(parser))
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="on failure, print the traceback too (or set PEBAL_DEBUG=1)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_debug(sub, seen)


def build_parser() -> argparse.ArgumentParser:
    from pebal import __version__

    parser = _Parser(
        prog="pebal",
        description="PEBAL anomaly segmentation: train, evaluate, predict, export.",
        epilog="Exit codes: 0 success, 1 the run failed, 2 bad input (flag, config, file), "
               "3 unexpected error (a bug), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"pebal {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    _add_debug(parser, set(), top=True)
    return parser


def _command_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` selected (``parser`` itself if none)."""
    for name in (getattr(args, "command", None), getattr(args, "data_command", None)):
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if name is None or not actions or name not in actions[0].choices:
            break
        parser = actions[0].choices[name]
    return parser


def _prog(args) -> str:
    words = ["pebal", args.command] + ([args.data_command] if getattr(args, "data_command", None) else [])
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """Run one ``pebal`` command; returns its exit code (never raises for a failed command)."""
    from pebal.cli.contract import debug_requested, report
    from pebal.errors import EXIT_BAD_INPUT
    from pebal.threads import configure_environment

    configure_environment()  # before torch loads: threads = usable cores, idle threads sleep
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the subcommand's parser, so the line names the command
            _command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help / --version (0) or a bad flag (2, its line already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    prog = _prog(args)
    try:
        return int(args.func(args) or 0)
    except SystemExit as exc:  # a command that refused its input with SystemExit("message")
        if isinstance(exc.code, str):
            from pebal.cli.contract import one_line

            message = one_line(exc.code)
            message = message[len(prog) + 2:] if message.startswith(f"{prog}: ") else message
            print(f"{prog}: error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0 if exc.code is None else int(exc.code)
    except (Exception, KeyboardInterrupt) as exc:
        sys.stdout.flush()
        return report(exc, prog, debug_requested(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
