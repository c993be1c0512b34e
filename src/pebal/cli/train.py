"""``pebal train``: PEBAL fine-tuning of a checkpoint's final block.

Embedded benchmark: ``pebal train --preset embedded --out runs/x``. Real data, the paper's
recipe: ``pebal train --preset paper --cityscapes ROOT --coco ROOT --checkpoint
cityscapes_best.pth --out runs/paper`` (``--preset reference`` for the public implementation's).
Several processes: ``torchrun --nproc_per_node N -m pebal train ...`` (NCCL on GPUs, gloo on
CPU; batch norm synchronised across processes, ``optim.batch_size`` is per process).
"""

from __future__ import annotations


def add_config_arguments(parser) -> None:
    """The flags shared by every command that resolves a :class:`~pebal.config.TrainConfig`."""
    from pebal.config import PRESETS

    parser.add_argument("--preset", default="embedded", choices=sorted(PRESETS), help="base configuration")
    parser.add_argument("--config", help="YAML file overriding the preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value, e.g. --set optim.lr=1e-4 (repeatable)")
    parser.add_argument("--checkpoint", help="pretrained checkpoint (embedded preset default: the shipped small "
                                             "model; paper / reference: required, e.g. NVIDIA's cityscapes_best.pth)")
    parser.add_argument("--out", help="run folder")
    parser.add_argument("--seed", type=int, help="seed of every random choice of the run")


def add_data_arguments(parser) -> None:
    """``--cityscapes ROOT`` and ``--coco ROOT``: the real training data in one flag each."""
    parser.add_argument("--cityscapes", metavar="ROOT",
                        help="Cityscapes root (leftImg8bit/, gtFine/): sets data.dataset=cityscapes, data.root=ROOT")
    parser.add_argument("--coco", metavar="ROOT",
                        help="COCO 2017 root (train2017/, annotations/instances_train2017.json): sets "
                             "data.outlier_source=coco, data.outlier_root=ROOT")


def data_overrides(args, keys: tuple[str, ...] = ("checkpoint", "out")) -> list[str]:
    """The ``key=value`` overrides of ``--cityscapes`` / ``--coco``, of the path flags ``keys`` and
    of ``--seed`` (applied after ``--set``, so a flag wins). Paths are written as quoted YAML
    strings, so any file name survives the ``key=value`` parsing."""
    import json

    overrides = []
    if getattr(args, "cityscapes", None) is not None:
        overrides += ["data.dataset=cityscapes", f"data.root={json.dumps(args.cityscapes)}"]
    if getattr(args, "coco", None) is not None:
        overrides += ["data.outlier_source=coco", f"data.outlier_root={json.dumps(args.coco)}"]
    for key in keys:
        value = getattr(args, key, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if getattr(args, "seed", None) is not None:
        overrides.append(f"seed={args.seed}")
    return overrides


def resolve_config(args):
    from pebal.config import load_config

    return load_config(args.preset, args.config, [*args.overrides, *data_overrides(args)])


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "train", help="fine-tune the final block with PEBAL (torchrun-ready)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tune a checkpoint's final classification block with PEBAL (the rest stays frozen).",
        epilog="examples:\n"
               "  pebal train --out runs/x                            the embedded benchmark, shipped model\n"
               "  pebal train --out runs/x --set optim.max_steps=50   a short run: cap the steps (and the schedule)\n"
               "  pebal train --out runs/x --set optim.epochs=3       a longer one\n"
               "  pebal train --out runs/x --resume                   continue an interrupted run\n"
               "  pebal train --preset paper --cityscapes ROOT --coco ROOT --checkpoint cityscapes_best.pth --out runs/p\n"
               "every config key and its default: pebal info --config [PRESET]\n")
    add_config_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run folder's train_state.pt (a finished run is left untouched)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pebal.training.distributed import close_distributed, init_distributed
    from pebal.training.finetune import finetune

    cfg = resolve_config(args)
    rank, _ = init_distributed()
    path = finetune(cfg, resume=args.resume)
    if rank == 0:
        print(f"fine-tuned checkpoint: {path}")
    close_distributed()
    return 0
