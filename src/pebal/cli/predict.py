"""``pebal predict``: score maps, heat maps, segmentations, masks and a gallery for your images.

Inputs are image files, folders (searched recursively), glob patterns and video files. An
input that cannot be read, or whose scores are not finite, is reported by name and skipped;
the command then exits with 1 after a summary. See :mod:`pebal.inference.predict_files` for
the files written per input and :mod:`pebal.inference.output_folder` for what happens in an
existing ``--out`` (resume, ``--overwrite``).
"""

from __future__ import annotations

import sys

from pebal.cli.options import ScoreRange, colormap, device, finite_float, fraction, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict anomaly maps for images, folders, globs and videos",
        description="Write score maps, heat maps, overlays, masks (with a threshold), videos and an HTML gallery "
                    "into --out. An interrupted run is resumed by running the same command again.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder, glob pattern or video")
    parser.add_argument("--checkpoint", required=True, help="model checkpoint (.safetensors or .pth), ideally one "
                        "written by pebal calibrate")
    parser.add_argument("--out", required=True, help="output folder: new, empty, or an earlier run's with the same "
                        "settings (resumed)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier run's outputs in --out made with other settings (only files pebal "
                             "wrote are removed)")
    parser.add_argument("--device", default="auto", type=device, help="auto (cuda if available), cpu, cuda:0, ...")
    parser.add_argument("--threshold", type=finite_float,
                        help="anomaly threshold on the score (default: the checkpoint's calibrated one)")
    parser.add_argument("--score-range", nargs=2, type=finite_float, action=ScoreRange, metavar=("LOW", "HIGH"),
                        help="heat-map scale (default: the checkpoint's calibrated range, else the 1st-99.9th "
                             "percentile of the first input's scores)")
    parser.add_argument("--colormap", default="inferno", type=colormap, help="matplotlib colormap of the heat maps")
    parser.add_argument("--window", type=positive_int, nargs=2, metavar=("H", "W"),
                        help="sliding-window tile size for large images (default: one full pass)")
    parser.add_argument("--overlap", type=fraction, default=1 / 3,
                        help="fraction of a tile shared with its neighbour (default 1/3); logits are averaged")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="video frames per forward pass")
    parser.add_argument("--no-gallery", action="store_true", help="do not write index.html")
    parser.add_argument("--no-score", action="store_true", help="do not write the float score maps (.npy)")
    parser.add_argument("--verbose", action="store_true", help="one line per input as it is done")
    parser.set_defaults(func=run)


def _pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def summary_lines(summary: dict, out: str, gallery: bool) -> list[str]:
    """The console summary of a run (see :func:`pebal.inference.predict_files.predict_files`)."""
    outputs = summary["outputs"]
    images = sum(1 for r in outputs if r["kind"] == "image")
    videos = len(outputs) - images
    failed = len(summary["failures"])
    head = (f"predicted {images} image(s) and {videos} video(s) into {out}"
            + (f"; {summary['resumed']} finished earlier and kept" if summary.get("resumed") else "")
            + (f"; {failed} input(s) failed" if failed else ""))
    lines = [head]
    threshold = summary["threshold"]
    if threshold is None:
        lines.append("no threshold: nothing is marked anomalous; calibrate the checkpoint first "
                     "(pebal calibrate --checkpoint C --dataset FOLDER_OF_CLEAN_IMAGES) or pass --threshold")
    else:
        fractions = sorted(r["anomalous_fraction"] for r in outputs if r.get("anomalous_fraction") is not None)
        calibration = summary.get("calibration")
        if calibration:
            line = (f"threshold {threshold:.6g} from the checkpoint (rule {calibration['rule']} on "
                    f"{calibration['num_images']} images of {calibration['root'] or calibration['dataset']}, where it "
                    f"flags {_pct(calibration['flagged_fraction'])})")
        else:
            line = f"threshold {threshold:.6g} ({'--threshold' if summary.get('threshold_source') == 'argument' else 'checkpoint'})"
        if fractions:
            median = fractions[len(fractions) // 2]
            line += f"; here anomalous pixels per input: median {_pct(median)}, max {_pct(fractions[-1])}"
        lines.append(line)
    if "mp4v" in (summary.get("video_codec") or []):
        from pebal.inference.video_encode import FALLBACK_NOTE

        lines.append("note: " + FALLBACK_NOTE)
    if gallery:
        lines.append(f"gallery: {out}/index.html")
    return lines


def run(args) -> int:
    from pebal.inference.output_folder import OutputFolderError
    from pebal.inference.predict_files import predict_files
    from pebal.inference.predictor import Predictor

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
    try:
        summary = predict_files(predictor, args.inputs, args.out, gallery=not args.no_gallery,
                                save_score=not args.no_score, overwrite=args.overwrite, verbose=args.verbose)
    except OutputFolderError as error:
        print(f"pebal predict: {error}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(summary, args.out, not args.no_gallery)))
    failed = summary["failures"]
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for failure in failed:
            print(f"  {failure['input']}: {failure['reason']}", file=sys.stderr)
        return 1
    return 0
