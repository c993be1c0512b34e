"""Embedded benchmark: generation speed on one core, colour-only baselines, test-set statistics.

    OMP_NUM_THREADS=1 python benchmarks/bench_synth.py [--n 60] [--root DIR]

Prints tables and writes ``benchmarks/results/synth.json``:

* **speed**: scenes per second on one core for each split, rendering only and rendering plus
  PNG encoding, as wall-clock and as process CPU time (the CPU figure is the one that does
  not depend on other processes sharing the machine);
* **colour classifier**: the best *per-pixel colour* segmenter (a 32^3 RGB histogram per class,
  arg-max per colour bin, fitted on train scenes) scored on val scenes — what a network that
  ignores shape and context could at most reach;
* **colour anomaly score**: ``1 / (1 + count of the pixel's colour bin among inlier pixels)``,
  AP / AUROC per test set — how separable anomalies are by colour alone;
* **test sets**: anomaly families, sizes (per bin of pixels across), occlusion, pixel fraction,
  from ``--root``'s ``anomalies.json`` and labels when given, else from freshly rendered scenes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pebal.data.png_writer import encode_png  # noqa: E402
from pebal.data.synthetic.scene import TEST_SETS, USED_TRAIN_IDS  # noqa: E402
from pebal.data.synthetic.writer import render_job  # noqa: E402
from pebal.evaluation.report import write_json  # noqa: E402

SIZE = (128, 256)
BINS = 32


def speed(n: int) -> dict:
    out = {}
    for split in ["train", "outlier_exposure", *TEST_SETS]:
        rows = {}
        for encode in (False, True):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                arrays, _ = render_job(123, SIZE, split, i)
                if encode:
                    for array in arrays:
                        encode_png(array)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows["render+png" if encode else "render"] = {"per_s_wall": n / wall, "per_s_cpu": n / cpu}
        out[split] = rows
    return out


def _colour_bins(image: np.ndarray) -> np.ndarray:
    q = image.astype(np.int64) * BINS // 256
    return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def colour_baselines(n_train: int, n_val: int, n_test: int) -> dict:
    hist = np.zeros((BINS ** 3, 256), np.int64)
    for i in range(n_train):
        (image, label), _ = render_job(321, SIZE, "train", i)
        np.add.at(hist, (_colour_bins(image).ravel(), label.ravel()), 1)
    counts = hist[:, list(USED_TRAIN_IDS)]
    lookup = np.asarray(USED_TRAIN_IDS)[counts.argmax(axis=1)]
    inter, union = Counter(), Counter()
    for i in range(n_val):
        (image, label), _ = render_job(321, SIZE, "val", i)
        pred = lookup[_colour_bins(image)]
        valid = label != 255
        for c in USED_TRAIN_IDS:
            p, t = (pred == c) & valid, (label == c) & valid
            inter[c] += int((p & t).sum())
            union[c] += int((p | t).sum())
    iou = {int(c): inter[c] / union[c] for c in USED_TRAIN_IDS if union[c]}
    density = counts.sum(axis=1)
    from sklearn.metrics import average_precision_score, roc_auc_score

    anomaly = {}
    for name in TEST_SETS:
        scores, targets = [], []
        for i in range(n_test):
            (image, label), _ = render_job(321, SIZE, name, i)
            keep = label != 255
            scores.append(1.0 / (1.0 + density[_colour_bins(image)][keep]))
            targets.append(label[keep] == 1)
        s, t = np.concatenate(scores), np.concatenate(targets)
        anomaly[name] = {"ap": float(average_precision_score(t, s)), "auroc": float(roc_auc_score(t, s)),
                         "anomaly_fraction_of_evaluated": float(t.mean())}
    return {"colour_classifier_val_iou": iou, "colour_classifier_val_miou": float(np.mean(list(iou.values()))),
            "colour_anomaly_score": anomaly, "train_scenes": n_train, "val_scenes": n_val, "test_scenes": n_test}


def test_set_stats(root: Path | None, n: int) -> dict:
    from pebal.data.image_io import read_label

    out = {}
    for name in TEST_SETS:
        records, fractions, evaluated, shifts = [], [], [], Counter()
        if root is not None:
            meta = json.loads((root / "test" / name / "anomalies.json").read_text())
            for stem, item in meta.items():
                label = read_label(root / "test" / name / "labels" / f"{stem}.png")
                records += item["anomalies"]
                fractions.append(float((label == 1).mean()))
                evaluated.append(float((label == 1).sum() / max(1, (label != 255).sum())))
                shifts[item["shift"]] += 1
        else:
            for i in range(n):
                (_, label), item = render_job(321, SIZE, name, i)
                records += item["anomalies"]
                fractions.append(float((label == 1).mean()))
                evaluated.append(float((label == 1).sum() / max(1, (label != 255).sum())))
                shifts[item["shift"]] += 1
        across = np.array([r["across_px"] for r in records])
        bins = {"8-16": int(((across >= 8) & (across < 16)).sum()), "16-32": int(((across >= 16) & (across < 32)).sum()),
                "32-64": int(((across >= 32) & (across < 64)).sum()), ">=64": int((across >= 64).sum())}
        occluded = np.array([r["occluded_fraction"] for r in records])
        out[name] = {"images": len(fractions), "anomalies": len(records),
                     "families": dict(Counter(r["family"] for r in records)),
                     "across_px_bins": bins, "across_px_median": float(np.median(across)),
                     "pixels_median": float(np.median([r["pixels"] for r in records])),
                     "partly_occluded (>5%)": int((occluded > 0.05).sum()),
                     "anomaly_pixel_fraction_mean": float(np.mean(fractions)),
                     "anomaly_fraction_of_evaluated_mean": float(np.mean(evaluated)),
                     "shifts": {str(k): v for k, v in shifts.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=60, help="scenes per split for the speed test")
    parser.add_argument("--root", type=Path, default=None, help="a generated benchmark for the statistics")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synth.json")
    args = parser.parse_args()
    results = {"size": list(SIZE), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
               "speed": speed(args.n)}
    print(f"{'split':20s} {'mode':12s} {'scenes/s (wall)':>16s} {'scenes/s (cpu)':>15s}")
    for split, rows in results["speed"].items():
        for mode, row in rows.items():
            print(f"{split:20s} {mode:12s} {row['per_s_wall']:16.1f} {row['per_s_cpu']:15.1f}")
    results["colour_only"] = colour_baselines(n_train=200, n_val=50, n_test=60)
    colour = results["colour_only"]
    print(f"\nper-pixel colour classifier (32^3 bins, 200 train scenes): val mIoU "
          f"{colour['colour_classifier_val_miou']:.3f}")
    print("  per class: " + ", ".join(f"{c}:{v:.2f}" for c, v in colour["colour_classifier_val_iou"].items()))
    for name, row in colour["colour_anomaly_score"].items():
        print(f"colour-rarity anomaly score on {name}: AP {row['ap']:.3f}, AUROC {row['auroc']:.3f} "
              f"(anomaly share of evaluated pixels {row['anomaly_fraction_of_evaluated']:.4f})")
    results["test_sets"] = test_set_stats(args.root, n=60)
    for name, row in results["test_sets"].items():
        print(f"\n{name}: {json.dumps(row)}")
    write_json(args.out, results)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
