"""``pebal evaluate``: every method on a data set in one pass; table, JSON and markdown.

PEBAL's energy is read from the fine-tuned checkpoint; MSP, Max Logit, Entropy and Energy
from the model before fine-tuning (``--pretrained``, default: the checkpoint the run started
from, recorded in its metadata by absolute path and SHA-256; a missing or changed file is
refused with what to pass). ``--dataset embedded`` evaluates every embedded test set.

Under ``torchrun --nproc_per_node N -m pebal evaluate ...`` the process group is started
(NCCL on GPUs, gloo on CPU), each process evaluates every N-th image, the exact metric states
are merged (the numbers equal one process's), and only rank 0 prints and writes.
"""

from __future__ import annotations

from pebal.cli.options import device, non_negative_int, positive_int

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="anomaly metrics of PEBAL and the post-hoc baselines")
    parser.add_argument("--checkpoint", required=True, help="fine-tuned checkpoint")
    parser.add_argument("--pretrained", help="checkpoint before fine-tuning (default: from the metadata)")
    parser.add_argument("--dataset", default="embedded", help="registry name, or 'embedded' (all embedded test sets)")
    parser.add_argument("--root", help="data set root (default: the embedded benchmark in the user cache)")
    parser.add_argument("--split", help="split, for data sets that have several")
    parser.add_argument("--inlier-dataset", help="inlier data set for mIoU before/after (embedded: synthetic-inlier)")
    parser.add_argument("--inlier-root", help="its root (default: --root)")
    parser.add_argument("--inlier-split", default="val")
    parser.add_argument("--out", default="runs/evaluate", help="folder for results.json and results.md")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--device", default="auto", type=device)
    parser.add_argument("--paired-bootstrap", type=non_negative_int, default=1000, metavar="N",
                        help="PEBAL vs each baseline: paired bootstrap over images with N replicates "
                             "(keeps 4 bytes per pixel per method; 0: off)")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=run)


def _datasets(args) -> dict:
    from pebal.data.registry import open_dataset

    if args.dataset == "embedded":
        from pebal.data.synthetic import synthetic_test_sets

        return synthetic_test_sets(args.root)
    kwargs = {"split": args.split} if args.split else {}
    return {args.dataset: open_dataset(args.dataset, args.root, **kwargs)}


def run(args) -> int:
    from pebal.training.distributed import close_distributed

    status = _evaluate(args)
    close_distributed()
    return status


def _evaluate(args) -> int:
    import sys

    from pebal.evaluation.evaluate import DEFAULT_METHODS, evaluate_anomaly, evaluate_segmentation
    from pebal.models import load_checkpoint
    from pebal.inference.predictor import resolve_device
    from pebal.atomic import write_bytes_atomically
    from pebal.evaluation.report import anomaly_table, summary_markdown, write_json
    from pebal.training.distributed import init_distributed, process_device
    from pebal.training.paths import find_base_checkpoint
    from pebal.experiments.bootstrap import PerImageCounts
    from pebal.experiments.paired import paired_methods
    from pebal.experiments.tables import paired_markdown

    if args.root is None:
        if args.dataset != "embedded":
            raise SystemExit(f"pebal evaluate: --dataset {args.dataset} needs --root (the data set's folder)")
        from pebal.paths import default_benchmark_root

        args.root = str(default_benchmark_root())
    device = resolve_device(args.device)
    rank, world = init_distributed(cuda=device.type == "cuda")
    device = process_device(device)
    finetuned = load_checkpoint(args.checkpoint).to(device)
    pretrained_path, warning = find_base_checkpoint(args.checkpoint, finetuned.metadata, args.pretrained)
    if warning is not None and rank == 0:
        print(f"warning: {warning}", file=sys.stderr)
    if pretrained_path is None:
        if rank == 0:
            print("no --pretrained checkpoint and none recorded: baselines are read from the fine-tuned model")
        pretrained = finetuned
    else:
        pretrained = load_checkpoint(pretrained_path).to(device)
    models = {"pretrained": pretrained, "finetuned": finetuned}
    results: dict = {}
    datasets = _datasets(args)
    per_image: dict = {}
    paired = args.paired_bootstrap > 0
    for name, dataset in datasets.items():
        if paired:
            per_image[name] = {m: PerImageCounts() for m in DEFAULT_METHODS}
        results[name] = evaluate_anomaly(dataset, models, finetuned.num_classes, DEFAULT_METHODS,
                                         batch_size=args.batch_size, device=device, progress=not args.quiet, desc=name,
                                         per_image=per_image.get(name))
    inlier = args.inlier_dataset or ("synthetic-inlier" if args.dataset == "embedded" else None)
    if inlier:
        from pebal.data.registry import open_dataset

        val = open_dataset(inlier, args.inlier_root or args.root, split=args.inlier_split)
        results["miou"] = evaluate_segmentation(val, models, finetuned.num_classes, batch_size=args.batch_size,
                                                device=device, progress=not args.quiet)
    if rank != 0:
        return 0  # the merged numbers are on every process; one writes them
    sets = [k for k in results if k != "miou"]
    results["checkpoint"] = str(Path(args.checkpoint).absolute())
    results["pretrained"] = None if pretrained_path is None else str(Path(pretrained_path).absolute())
    results["processes"] = world
    # what each set was (root, split, label convention: LostAndFound has two)
    from pebal.data.registry import describe_dataset

    results["datasets"] = {name: describe_dataset(dataset) for name, dataset in datasets.items()}
    markdown = ""
    if per_image:
        results["paired"] = paired_methods(per_image, "pebal", args.paired_bootstrap)
        markdown = ("\n## PEBAL − each baseline, paired (points; 95 % interval, p over a bootstrap of the test images)\n\n"
                    + paired_markdown(results["paired"], sets) + "\n")
    out = Path(args.out)
    write_json(out / "results.json", results)
    methods = list(DEFAULT_METHODS)
    write_bytes_atomically(out / "results.md", (summary_markdown(results, methods, sets) + markdown).encode())
    print(anomaly_table({s: results[s] for s in sets}, methods))
    if markdown:
        print(markdown)
    if "miou" in results:
        m = results["miou"]
        print(f"inlier mIoU: before {100 * m['pretrained']['miou']:.2f}  after {100 * m['finetuned']['miou']:.2f}")
    print(f"written: {out}/results.json, {out}/results.md")
    return 0
