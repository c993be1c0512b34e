"""Checked flag types for the ``pebal`` subcommands (``type=`` of ``argparse.add_argument``).

Each converts the text of one flag value or raises ``argparse.ArgumentTypeError`` with what
was expected and what was found; argparse then prints one error line that names the flag and
exits with 2 (bad input), before any file is read or written.
"""

from __future__ import annotations

import argparse
import math
import re


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, counts of steps or images)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, counts that may be zero)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (a tile overlap)."""
    value = finite_float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), found {value}")
    return value


class ScoreRange(argparse.Action):
    """``--score-range LOW HIGH``: two finite numbers with LOW < HIGH."""

    def __call__(self, parser, namespace, values, option_string=None):
        low, high = (finite_float(v) for v in values)
        if not low < high:
            raise argparse.ArgumentError(self, f"expected LOW < HIGH, found {low:g} {high:g}")
        setattr(namespace, self.dest, (low, high))


def colormap(text: str) -> str:
    """A matplotlib colormap name (``inferno``, ``jet``, ``viridis`` ...)."""
    import matplotlib

    try:
        matplotlib.colormaps[text]
    except KeyError:
        raise argparse.ArgumentTypeError("expected a matplotlib colormap name such as inferno, viridis, magma, "
                                         f"plasma, turbo or jet, found {text!r}") from None
    return text


_DEVICE = re.compile(r"^(auto|cpu|cuda|mps|xpu)(:\d+)?$")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``xpu[:N]``, available on this machine."""
    if not _DEVICE.match(text) or text.startswith("auto:") or text.startswith("cpu:"):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, found {text!r}")
    kind, _, index = text.partition(":")
    if kind in ("auto", "cpu"):
        return text
    import torch

    backend = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None), "xpu": getattr(torch, "xpu", None)}[kind]
    if backend is None or not backend.is_available():
        raise argparse.ArgumentTypeError(f"{text!r} is not available on this machine (torch {torch.__version__}); use cpu or auto")
    if index and kind == "cuda" and int(index) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text
