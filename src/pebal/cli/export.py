"""``pebal export``: the model as one ONNX graph, RGB in, anomaly score and segmentation out."""

from __future__ import annotations

import sys

#: The largest accepted |onnxruntime - PyTorch| score difference, relative to the scores' largest
#: magnitude (float32 rounding over WideResNet38's 137M weights gives ~2e-4 of it).
RELATIVE_TOLERANCE = 1e-3


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to ONNX (score + segmentation)")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    parser.add_argument("--out", help="output file (default: the checkpoint path with .onnx)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: pebal.inference.onnx_export.OPSET)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the onnxruntime-vs-PyTorch check on a seeded random image")
    parser.add_argument("--verify-size", type=int, nargs=2, default=(128, 256), metavar=("H", "W"),
                        help="size of the verification image (default 128 256)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import numpy as np

    from pebal.inference.onnx_export import OPSET, export_onnx, verify_export
    from pebal.models import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".onnx")
    opset = OPSET if args.opset is None else args.opset
    export_onnx(model, out, opset=opset)
    print(f"wrote {out} (opset {opset}; input uint8 RGB (N, 3, H, W); outputs score, segmentation)")
    if not args.no_verify:
        h, w = args.verify_size
        image = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        check = verify_export(model, out, image)
        print(f"onnxruntime vs PyTorch on a {h}x{w} image: max |score diff| {check['max_abs_score_diff']:.2e}, "
              f"segmentation agreement {100 * check['segmentation_agreement']:.3f} %")
        if check["relative_score_diff"] > RELATIVE_TOLERANCE:
            print(f"pebal export: error: the exported graph's scores differ from PyTorch by "
                  f"{check['max_abs_score_diff']:.2e}, more than {RELATIVE_TOLERANCE:g} of their largest magnitude "
                  f"{check['max_abs_score']:.3g}", file=sys.stderr)
            return 1
    return 0
