"""Which false-alarm budget to ship as the default: what each calibration rule flags and catches.

Calibrates a checkpoint on the embedded benchmark's clean inlier val split with
``budget=X`` for several X (:func:`pebal.inference.calibrate.budget_threshold`, exact), and
reads each threshold on the anomaly test sets (never used for calibrating):

* ``val flagged``: the share of the val pixels flagged (pooled; and the median / max per image)
* ``test inlier FPR``: the share of the test sets' inlier (label 0) pixels flagged
* ``test TPR``: the share of the anomalous (label 1) pixels caught
* ``test flagged``: the share of all evaluated test pixels flagged (what a user sees)

For contrast the old default, ``tpr95``, is calibrated on each test set itself (an oracle
that sees the anomaly labels) and read the same way.

    python benchmarks/bench_calibration.py --checkpoint runs/demo/finetune/model.safetensors \\
        --root ~/.cache/pebal/synth-v3 --budgets 0.1 0.5 1 2 5

Prints a table and writes ``benchmarks/results/v3/calibration.json`` (with the 1-minute load
average; the figures themselves do not depend on it). v1's figures (``--root ~/.cache/pebal/synth``
with a demo of ``--preset embedded-v1``) are in ``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from pebal.paths import default_benchmark_root

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="runs/demo/finetune/model.safetensors")
    parser.add_argument("--root", default=str(default_benchmark_root()), help="the embedded benchmark")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0, 5.0], help="in %%")
    parser.add_argument("--max-images", type=int, default=None, help="per split (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "v3" / "calibration.json"),
                        help="default: benchmarks/results/v3/calibration.json (v1's figures: benchmarks/results/calibration.json)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from pebal.atomic import write_bytes_atomically
    from pebal.data.synthetic import SyntheticInlierDataset, synthetic_test_sets
    from pebal.inference.calibrate import budget_threshold
    from pebal.inference.predictor import Predictor
    from pebal.metrics.operating import threshold_at_tpr
    from pebal.metrics.state import AnomalyMetrics

    start = time.perf_counter()
    predictor = Predictor(args.checkpoint, device="cpu", keep_image=False, threshold=None, score_range=(0.0, 1.0))
    val = SyntheticInlierDataset(args.root, "val")
    n_val = len(val) if args.max_images is None else min(len(val), args.max_images)
    val_scores = [predictor.predict(val[i]["image"]).score.ravel() for i in range(n_val)]
    pooled = np.concatenate(val_scores)
    tests = {}
    for name, dataset in synthetic_test_sets(args.root).items():
        n = len(dataset) if args.max_images is None else min(len(dataset), args.max_images)
        scores, labels = [], []
        for i in range(n):
            item = dataset[i]
            scores.append(predictor.predict(item["image"]).score.ravel())
            labels.append(item["label"].ravel())
        tests[name] = (np.concatenate(scores), np.concatenate(labels), n)

    def read(threshold, name):
        s, lab, _ = tests[name]
        flagged = s >= np.float32(threshold)
        evaluated = lab != 255
        return {"test_inlier_fpr": float(flagged[lab == 0].mean()), "test_tpr": float(flagged[lab == 1].mean()),
                "test_flagged": float(flagged[evaluated].mean())}

    rows = []
    for budget in args.budgets:
        threshold, count = budget_threshold(pooled, budget / 100.0)
        per_image = np.array([np.mean(s >= np.float32(threshold)) for s in val_scores])
        row = {"rule": f"budget={budget:g}%", "calibrated_on": f"inlier val ({n_val} clean images)",
               "threshold": threshold, "val_flagged": count / pooled.size,
               "val_flagged_median_image": float(np.median(per_image)), "val_flagged_max_image": float(per_image.max()),
               "test": {name: read(threshold, name) for name in tests}}
        rows.append(row)
    for name, (s, lab, n) in tests.items():
        state = AnomalyMetrics()
        state.update(s, lab)
        threshold = threshold_at_tpr(state, 0.95).threshold
        rows.append({"rule": "tpr95", "calibrated_on": f"{name} itself ({n} images, anomaly labels: an oracle)",
                     "threshold": threshold, "val_flagged": float(np.mean(pooled >= np.float32(threshold))),
                     "val_flagged_median_image": float(np.median([np.mean(v >= np.float32(threshold))
                                                                   for v in val_scores])),
                     "val_flagged_max_image": float(max(np.mean(v >= np.float32(threshold)) for v in val_scores)),
                     "test": {name: read(threshold, name)}})

    names = list(tests)
    header = ("| rule | calibrated on | threshold | val flagged (median / max image) | "
              + " | ".join(f"{n} inlier FPR / TPR / flagged" for n in names) + " |")
    lines = [header, "|---|---|---:|---:|" + "---:|" * len(names)]
    for row in rows:
        cells = []
        for name in names:
            t = row["test"].get(name)
            cells.append("—" if t is None else f"{100 * t['test_inlier_fpr']:.2f} / {100 * t['test_tpr']:.1f} / "
                                                f"{100 * t['test_flagged']:.2f}")
        lines.append(f"| {row['rule']} | {row['calibrated_on']} | {row['threshold']:.3f} | "
                     f"{100 * row['val_flagged']:.2f} ({100 * row['val_flagged_median_image']:.2f} / "
                     f"{100 * row['val_flagged_max_image']:.2f}) | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    result = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
              "checkpoint": str(Path(args.checkpoint).resolve()), "root": str(Path(args.root).resolve()),
              "val_images": n_val, "rows": rows, "table_percent": table, "seconds": time.perf_counter() - start,
              "load_average_1min": os.getloadavg()[0], "threads": args.threads}
    write_bytes_atomically(args.out, (json.dumps(result, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
