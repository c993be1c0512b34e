#!/usr/bin/env python
"""Train the shipped small inlier model: the same as ``pebal pretrain``.

    python scripts/pretrain_small_model.py --steps 3000 --threads 2

writes the shipped ``src/pebal/weights/deeplabv3plus_small.safetensors``, ``MODEL_CARD.md`` and
``MODEL_CARD.json`` beside it (unless ``--output`` says otherwise). See ``pebal pretrain --help``
for every flag.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pebal.cli.pretrain import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.output is None:  # this script reproduces the shipped model, in place
        args.output = str(Path(__file__).resolve().parents[1] / "src" / "pebal" / "weights" / "deeplabv3plus_small.safetensors")
    command = "python scripts/pretrain_small_model.py " + " ".join(shlex.quote(a) for a in argv)
    return run(args, command=command.strip())


if __name__ == "__main__":
    sys.exit(main())
