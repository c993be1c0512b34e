"""``pebal predict``: score maps, heat maps, segmentations, masks and a gallery for your images.

Inputs are image files, folders (searched recursively), glob patterns and video files. An
input that cannot be read is reported by name and skipped; the command then exits with 1
after a summary. See :mod:`pebal.inference.predict_files` for the files written per input.
"""

from __future__ import annotations

from pebal.cli.options import ScoreRange, colormap, device, fraction, positive_int

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict anomaly maps for images, folders, globs and videos")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder, glob pattern or video")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.safetensors or .pth)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="auto", type=device, help="auto (cuda if available), cpu, cuda:0, ...")
    parser.add_argument("--threshold", type=float,
                        help="anomaly threshold on the score (default: the checkpoint's calibrated one)")
    parser.add_argument("--score-range", nargs=2, action=ScoreRange, metavar=("LOW", "HIGH"),
                        help="heat-map scale (default: the checkpoint's calibrated range, else -20 0)")
    parser.add_argument("--colormap", default="inferno", type=colormap, help="matplotlib colormap of the heat maps")
    parser.add_argument("--window", type=positive_int, nargs=2, metavar=("H", "W"),
                        help="sliding-window tile size for large images (default: one full pass)")
    parser.add_argument("--overlap", type=fraction, default=1 / 3,
                        help="fraction of a tile shared with its neighbour (default 1/3); logits are averaged")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="video frames per forward pass")
    parser.add_argument("--no-gallery", action="store_true", help="do not write index.html")
    parser.add_argument("--no-score", action="store_true", help="do not write the float score maps (.npy)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pebal.inference.predictor import Predictor
    from pebal.inference.predict_files import predict_files

    predictor = Predictor(
        args.checkpoint,
        device=args.device,
        threshold=args.threshold,
        score_range=args.score_range,
        window=args.window,
        overlap=args.overlap,
        batch_size=args.batch_size,
        colormap=args.colormap,
    )
    summary = predict_files(predictor, args.inputs, args.out, gallery=not args.no_gallery,
                            save_score=not args.no_score)
    done, failed = len(summary["outputs"]), summary["failures"]
    print(f"predicted {done} of {done + len(failed)} inputs into {args.out}"
          + ("" if args.no_gallery else f" (gallery: {args.out}/index.html)"))
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for failure in failed:
            print(f"  {failure['input']}: {failure['reason']}", file=sys.stderr)
        return 1
    return 0
