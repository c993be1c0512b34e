"""``pebal train``: PEBAL fine-tuning of a checkpoint's final block.

Single process: ``pebal train --preset embedded --out runs/x``; several processes:
``torchrun --nproc_per_node 2 -m pebal train ...`` (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations


def add_config_arguments(parser) -> None:
    """The flags shared by every command that resolves a :class:`~pebal.config.TrainConfig`."""
    from pebal.config import PRESETS

    parser.add_argument("--preset", default="embedded", choices=sorted(PRESETS), help="base configuration")
    parser.add_argument("--config", help="YAML file overriding the preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value, e.g. --set optim.lr=1e-4 (repeatable)")
    parser.add_argument("--checkpoint", help="pretrained checkpoint (default: the shipped small model)")
    parser.add_argument("--out", help="run folder")
    parser.add_argument("--seed", type=int, help="seed of every random choice of the run")


def resolve_config(args):
    from pebal.config import load_config

    overrides = list(args.overrides)
    for key in ("checkpoint", "out", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    return load_config(args.preset, args.config, overrides)


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="fine-tune the final block with PEBAL (torchrun-ready)")
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's train_state.pt")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pebal.training.finetune import finetune

    cfg = resolve_config(args)
    path = finetune(cfg, resume=args.resume)
    print(f"fine-tuned checkpoint: {path}")
    return 0
