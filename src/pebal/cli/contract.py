"""The error contract of the ``pebal`` command: one line on stderr and a documented exit code.

:func:`exit_code_of` maps an exception to the exit codes of :mod:`pebal.errors`:

* a :class:`~pebal.errors.PebalError` carries its own code (2 bad input, 1 failed run);
* a ``ValueError`` or ``ImportError`` raised by a ``raise`` statement in pebal's own code is a
  refusal of bad input (2): the project reports bad arguments that way everywhere;
* a missing / unreadable file (``FileNotFoundError``, ``PermissionError``, ...), a
  ``SafetensorError`` and a YAML syntax error are bad input (2); any other ``OSError`` (disk
  full, I/O error) is a failed run (1);
* ``KeyboardInterrupt`` is 130; anything else is unexpected (3: a bug).

:func:`one_line` folds a multi-line message (e.g. a checkpoint's list of missing keys) into
one line, so a script can read the reason with ``tail -n 1``.
"""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from pathlib import Path

from pebal.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, PebalError

_PACKAGE = Path(__file__).resolve().parent.parent
_BAD_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)


def debug_requested(args=None) -> bool:
    """``--debug`` on the command line or ``PEBAL_DEBUG`` set to anything but ``''`` / ``0``."""
    if os.environ.get("PEBAL_DEBUG", "") not in ("", "0"):
        return True
    return bool(getattr(args, "debug", False))


def _raised_by_pebal(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is a ``raise`` statement in pebal."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    try:
        inside = Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False
    return inside and linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise")


def exit_code_of(exc: BaseException) -> int:
    """The exit code of the command that ended with ``exc`` (see the module docstring)."""
    if isinstance(exc, PebalError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, _BAD_FILE):
        return EXIT_BAD_INPUT
    if isinstance(exc, OSError):
        return EXIT_FAILED
    if type(exc).__name__ == "SafetensorError":
        return EXIT_BAD_INPUT
    try:
        import yaml

        if isinstance(exc, yaml.YAMLError):
            return EXIT_BAD_INPUT
    except ImportError:  # pragma: no cover - yaml is a core dependency
        pass
    if isinstance(exc, (ValueError, ImportError)) and _raised_by_pebal(exc):
        return EXIT_BAD_INPUT
    return EXIT_INTERNAL


def one_line(text: str) -> str:
    """``text`` on one line: lines joined by ``'; '`` (by a space after a line ending in ``':'``)."""
    out = ""
    for line in (part.strip() for part in str(text).splitlines()):
        if not line:
            continue
        out += ("" if not out else " " if out.endswith(":") else "; ") + line
    return out


def describe(exc: BaseException) -> str:
    """The message of ``exc`` for the error line (the type is named when it is not pebal's)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    message = one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, PebalError) or (isinstance(exc, ValueError) and _raised_by_pebal(exc)):
        return message
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {message}"


def report(exc: BaseException, prog: str, debug: bool = False, stream=None) -> int:
    """Print the error line of ``exc`` (and its traceback when ``debug``); return the exit code."""
    stream = sys.stderr if stream is None else stream
    code = exit_code_of(exc)
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
    line = f"{prog}: error: {describe(exc)}"
    if code == EXIT_INTERNAL:
        line = f"{prog}: internal error: {describe(exc)} (a bug: rerun with --debug or PEBAL_DEBUG=1 and report the traceback)"
    print(line, file=stream, flush=True)
    return code
