#!/usr/bin/env python
"""Train the shipped small inlier model: the same as ``pebal pretrain``.

    python scripts/pretrain_small_model.py --data-root .cache/synth --steps 3000 --threads 2

writes ``weights/deeplabv3plus_small.safetensors``, ``weights/MODEL_CARD.md`` and
``weights/MODEL_CARD.json``. See ``pebal pretrain --help`` for every flag.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from pebal.cli.pretrain import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    command = "python scripts/pretrain_small_model.py " + " ".join(shlex.quote(a) for a in argv)
    return run(args, command=command.strip())


if __name__ == "__main__":
    sys.exit(main())
