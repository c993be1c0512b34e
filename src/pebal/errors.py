"""The project's error hierarchy and the exit codes of the ``pebal`` command.

Every error pebal raises on purpose is a :class:`PebalError`, and every ``PebalError`` says
*what* failed, *which* file or key, what was *expected* and what was *found*. The command
line (:func:`pebal.cli.main`) prints it as one line on stderr and exits with the code of
its class (``--debug`` or ``PEBAL_DEBUG=1`` prints the traceback too):

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success
1     the run failed: a loss or an output became NaN / inf, a check did not pass, some inputs
      could not be processed, the disk is full (:class:`RunError`)
2     bad input: a flag, a config key, a data set, an image, a checkpoint; nothing was changed
      outside the output folder (:class:`InputError`)
3     an unexpected error (a bug): rerun with ``--debug`` and report the traceback
130   interrupted (Ctrl-C)
====  =====================================================================================

Existing error classes derive from these (``CheckpointError``, ``ImageReadError``,
``MetricInputError``, ``MissingClassError`` ... are :class:`InputError`); :class:`InputError`
is also a ``ValueError`` so code that catches ``ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class PebalError(Exception):
    """Base of every error pebal raises on purpose; ``exit_code`` is the command's status."""

    exit_code = EXIT_FAILED


class InputError(PebalError, ValueError):
    """Bad input: a flag, config value, file or data set that cannot be used as given."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    """A config key holds a value of the wrong type, outside its range or not allowed.

    ``key`` is the dotted key (``optim.epochs``), ``expected`` the allowed values or range,
    ``found`` the value given; ``str()`` reads ``config key optim.epochs: expected an
    integer >= 1, found -1``. Several problems are reported together in one error.
    """

    def __init__(self, key: str, expected: str, found: Any, *, source: str | None = None,
                 more: list[ConfigError] | None = None) -> None:
        self.key, self.expected, self.found, self.source = key, expected, found, source
        self.problems = [self, *(more or [])]
        where = f" (with config file {source})" if source else ""
        text = "; ".join(f"config key {p.key}: expected {p.expected}, found {p.found!r}" for p in self.problems)
        super().__init__(text + where)


class ResumeMismatchError(InputError):
    """``--resume`` was given a config that differs from the one the run was started with."""


class CacheConflictError(InputError):
    """A cache folder holds files the cache did not write; it is refused, never emptied."""


class RunError(PebalError, RuntimeError):
    """The run itself failed (exit code 1); what was written before stays valid."""

    exit_code = EXIT_FAILED


class NonFiniteError(RunError):
    """A loss, gradient, score or output became NaN or infinite."""
