"""Does an embedded benchmark have the real benchmarks' difficulty? The criteria of issue 17,
fixed before any method was ranked on it, checked on one benchmark folder and written to JSON.

    python benchmarks/bench_benchmark_v2.py --root ~/.cache/pebal/synth-v2 \\
        --checkpoint runs/pretrain/deeplabv3plus_small_v2.safetensors \\
        --paired runs/experiments-v2/v2_criteria --demo runs/demo-v2/results.json
    python benchmarks/bench_benchmark_v2.py --root ~/.cache/pebal/synth-v3 \\
        --checkpoint src/pebal/weights/deeplabv3plus_small_v3.safetensors \\
        --paired runs/experiments-v3/ablation --demo runs/demo-v3/results.json \\
        --out benchmarks/results/benchmark_v3.json

The same criteria apply to every version (v3: v2 with the anomalies-shifted levers of
``bench_v2_levers.py``); ``--paired`` takes any experiment folder and checks every pair of its
trained rows.

Criteria (each reported with its number, pass / fail, or "not measured"):

1. on each anomaly test set the best post-hoc score (MSP, Max Logit, Entropy, Energy; the one
   with the best AP) of the shipped model has AUROC 90-97 %, AP 15-60 %, FPR95 10-50 %
   (the span of the real sets in the paper's Tables 1 and 3);
2. the shipped model's val mIoU >= 75 % over the classes present in the val labels;
3. the paired 95 % interval of the AP difference between two trained methods has half-width
   <= 1.5 points on each set: read from an experiment folder (``--paired``) with two trained
   rows; the image-level interval (one training seed, bootstrap over test images) is the
   criterion, the interval over images and seeds is reported beside it;
4. ``pebal demo`` takes <= 10 min on 2 cores (``timings.total`` of a demo's results.json, with
   the load average of the machine when it ran, if recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from pebal.paths import cache_dir, shipped_weights
from pebal.evaluation.report import write_json

POSTHOC = ("msp", "max_logit", "entropy", "energy")
RANGES = {"auroc": (0.90, 0.97), "ap": (0.15, 0.60), "fpr95": (0.10, 0.50)}
MIN_MIOU = 0.75
MAX_HALF_WIDTH = 0.015
MAX_DEMO_SECONDS = 600.0


def posthoc(root: Path, checkpoint: str, batch_size: int) -> dict:
    """Every post-hoc score of the model on every test set of the benchmark at ``root``."""
    from pebal.data.synthetic import synthetic_test_sets
    from pebal.experiments.evaluation import build_scorers, score_dataset
    from pebal.models import load_checkpoint

    model = load_checkpoint(checkpoint)
    scorers = build_scorers(list(POSTHOC), model.num_classes)
    out = {}
    for name, dataset in synthetic_test_sets(root).items():
        states = score_dataset(dataset, model, scorers, batch_size)
        metrics = {k: {m: v for m, v in s.metrics().items() if m in RANGES} for k, s in states.items()}
        best = max(metrics, key=lambda k: metrics[k]["ap"])
        checks = {m: RANGES[m][0] <= metrics[best][m] <= RANGES[m][1] for m in RANGES}
        out[name] = {"images": len(dataset), "scores": metrics, "best_score": best, "best": metrics[best],
                     "in_range": checks, "passes": all(checks.values())}
    return out


def miou(root: Path, checkpoint: str, batch_size: int) -> dict:
    from pebal.data.registry import open_dataset
    from pebal.evaluation.evaluate import evaluate_segmentation
    from pebal.models import load_checkpoint

    model = load_checkpoint(checkpoint)
    result = evaluate_segmentation(open_dataset("synthetic-inlier", root, split="val"), {"m": model},
                                   model.num_classes, batch_size, progress=False)["m"]
    return {**result, "passes": result["miou"] >= MIN_MIOU}


def paired(folder: Path) -> dict:
    """Half-widths of the AP difference between every pair of trained rows of an experiment folder."""
    from pebal.experiments.paired import paired_from_entries

    results = json.loads((folder / "results.json").read_text())
    trained = [r for r in results["rows"] if r["trained"]]
    if len(trained) < 2:
        raise ValueError(f"{folder}/results.json has {len(trained)} trained row(s); the criterion needs two")
    seeds = results["seeds"]

    def entries(row, set_name):
        return [json.loads((folder / "runs" / row["setting"] / f"seed_{s}" / "result.json").read_text())
                ["scores"][row["score"]][set_name] for s in seeds]

    out = []
    for i, a in enumerate(trained):
        for b in trained[i + 1:]:
            record = {"a": a["label"], "b": b["label"], "sets": {}}
            for set_name in results["test_sets"]:
                ea, eb = entries(a, set_name), entries(b, set_name)
                per_seed = [paired_from_entries([x], [y], metrics=("ap",))["ap"] for x, y in zip(ea, eb, strict=True)]
                both = paired_from_entries(ea, eb, metrics=("ap",))["ap"]
                half = [(p["ci95"][1] - p["ci95"][0]) / 2 for p in per_seed]
                record["sets"][set_name] = {
                    "difference_points": 100 * both["difference"],
                    "image_half_width_points": 100 * float(np.mean(half)),
                    "image_half_width_points_per_seed": [100 * h for h in half],
                    "images_and_seeds_half_width_points": 100 * (both["ci95"][1] - both["ci95"][0]) / 2,
                    "passes": float(np.mean(half)) <= MAX_HALF_WIDTH}
            record["passes"] = all(v["passes"] for v in record["sets"].values())
            out.append(record)
    return {"folder": str(folder), "seeds": seeds, "pairs": out, "passes": all(r["passes"] for r in out)}


def demo(path: Path) -> dict:
    results = json.loads(path.read_text())
    seconds = float(results["timings"]["total"])
    return {"results": str(path), "seconds": seconds, "timings": results["timings"],
            "load_average": results.get("load_average"), "passes": seconds <= MAX_DEMO_SECONDS}


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def markdown(report: dict) -> str:
    lines = ["| criterion | target | measured | pass |", "|---|---|---|---|"]
    for name, entry in report.get("posthoc", {}).items():
        b = entry["best"]
        lines.append(f"| {name}: best post-hoc ({entry['best_score']}) AUROC / AP / FPR95 | 90-97 / 15-60 / 10-50 | "
                     f"{_pct(b['auroc'])} / {_pct(b['ap'])} / {_pct(b['fpr95'])} | {'yes' if entry['passes'] else 'no'} |")
    if "miou" in report:
        lines.append(f"| val mIoU | >= 75 | {_pct(report['miou']['miou'])} | {'yes' if report['miou']['passes'] else 'no'} |")
    for record in report.get("paired", {}).get("pairs", []):
        for name, v in record["sets"].items():
            lines.append(f"| {name}: AP {record['b']} − {record['a']}, 95 % half-width (images; images + seeds) | <= 1.5 | "
                         f"{v['image_half_width_points']:.2f}; {v['images_and_seeds_half_width_points']:.2f} | "
                         f"{'yes' if v['passes'] else 'no'} |")
    if "demo" in report:
        lines.append(f"| pebal demo | <= 600 s | {report['demo']['seconds']:.0f} s | {'yes' if report['demo']['passes'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(cache_dir() / "synth-v2"), help="benchmark folder (generated with pebal synth)")
    parser.add_argument("--checkpoint", default=str(shipped_weights()))
    parser.add_argument("--paired", type=Path, help="experiment folder with two trained rows (criterion 3)")
    parser.add_argument("--demo", type=Path, help="results.json of a pebal demo run (criterion 4)")
    parser.add_argument("--skip-posthoc", action="store_true", help="reuse the post-hoc and mIoU parts of --out")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/benchmark_v2.json")
    args = parser.parse_args()

    root = Path(args.root)
    manifest = json.loads((root / "manifest.json").read_text())
    started = time.perf_counter()
    report: dict = {}
    if args.skip_posthoc and Path(args.out).is_file():
        previous = json.loads(Path(args.out).read_text())
        report.update({k: previous[k] for k in ("posthoc", "miou") if k in previous})
    else:
        report["posthoc"] = posthoc(root, args.checkpoint, args.batch_size)
        report["miou"] = miou(root, args.checkpoint, args.batch_size)
    if args.paired is not None:
        report["paired"] = paired(args.paired)
    if args.demo is not None:
        report["demo"] = demo(args.demo)
    measured = [v["passes"] for k in ("miou", "paired", "demo") if k in report for v in [report[k]]]
    measured += [v["passes"] for v in report.get("posthoc", {}).values()]
    report.update(
        benchmark={"root": str(root), "version": manifest["version"], "seed": manifest["seed"], "size": manifest["size"],
                   "counts": manifest["counts"], "content_sha256": manifest["content_sha256"]},
        checkpoint=args.checkpoint, all_measured_pass=all(measured),
        not_measured=[k for k in ("posthoc", "miou", "paired", "demo") if k not in report],
        command="python benchmarks/bench_benchmark_v2.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, False)),
        seconds=time.perf_counter() - started, load_average=os.getloadavg())
    write_json(args.out, report)
    table = markdown(report)
    Path(args.out).with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
