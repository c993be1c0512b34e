#!/usr/bin/env python
"""The shipped small model against a per-pixel colour classifier, and its CPU speed.

    python benchmarks/bench_small_model.py --threads 2

Prints a table and writes JSON (``--json``, default ``benchmarks/results/small_model.json``):

* val mIoU, per-class IoU and pixel accuracy of the shipped ``pebal/weights/deeplabv3plus_small.safetensors``
  and of :class:`~pebal.evaluation.colour_baseline.ColourLookupClassifier` fitted on the
  train pixels (the benchmark must need shape and context: the CNN must win clearly);
* eval-mode forward time per image at the data size for batch sizes 1 and 8.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from pebal.evaluation.report import write_json
from pebal.paths import default_benchmark_root, shipped_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(shipped_weights()))
    parser.add_argument("--data-root", default=str(default_benchmark_root()))
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--size", type=int, nargs=2, default=(128, 256))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bits", type=int, default=5, help="colour quantisation of the lookup classifier")
    parser.add_argument("--json", default="benchmarks/results/small_model.json")
    args = parser.parse_args(argv)

    from pebal.evaluation.colour_baseline import ColourLookupClassifier
    from pebal.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy, present_classes
    from pebal.labels import CITYSCAPES_CLASSES
    from pebal.training.model_card import measure_forward_ms
    from pebal.models import load_checkpoint
    from pebal.training.pretrain import PretrainConfig, evaluate_confusion, load_split, open_synthetic_split

    torch.set_num_threads(args.threads)
    cfg = PretrainConfig(data_root=args.data_root, data_seed=args.data_seed, size=tuple(args.size))
    train_images, train_labels = load_split(open_synthetic_split(cfg, "train"))
    val_images, val_labels = load_split(open_synthetic_split(cfg, "val"))
    model = load_checkpoint(args.weights)
    num_classes = model.num_classes

    cnn_conf = evaluate_confusion(model.network, val_images, val_labels, num_classes)
    classes = present_classes(cnn_conf)
    colour = ColourLookupClassifier(num_classes, bits=args.bits).fit(train_images, train_labels)
    colour_conf = confusion_matrix(colour.predict(val_images), val_labels, num_classes)
    cnn_iou, colour_iou = iou_per_class(cnn_conf), iou_per_class(colour_conf)

    timing = {f"batch_{b}": measure_forward_ms(model.network, tuple(args.size), batch_size=b) for b in (1, 8)}
    result = {
        "weights": args.weights,
        "threads": args.threads,
        "size": list(args.size),
        "val_images": len(val_images),
        "classes": {CITYSCAPES_CLASSES[c]: {"cnn": float(cnn_iou[c]), "colour": float(colour_iou[c])} for c in classes},
        "cnn": {"miou": mean_iou(cnn_conf, classes), "pixel_accuracy": pixel_accuracy(cnn_conf)},
        "colour_lookup": {"bits": args.bits, "miou": mean_iou(colour_conf, classes),
                          "pixel_accuracy": pixel_accuracy(colour_conf)},
        "forward_ms_per_image": timing,
        "parameters": sum(p.numel() for p in model.network.parameters()),
    }

    print(f"{'class':<15}{'CNN IoU':>10}{'colour IoU':>12}")
    for name, v in result["classes"].items():
        print(f"{name:<15}{v['cnn']:>10.3f}{v['colour']:>12.3f}")
    print(f"{'mIoU':<15}{result['cnn']['miou']:>10.3f}{result['colour_lookup']['miou']:>12.3f}")
    print(f"{'pixel acc.':<15}{result['cnn']['pixel_accuracy']:>10.3f}{result['colour_lookup']['pixel_accuracy']:>12.3f}")
    for key, ms in timing.items():
        print(f"forward {key}: {ms:.1f} ms/image at {args.size[0]}x{args.size[1]}, {args.threads} threads")
    out = Path(args.json)
    write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
