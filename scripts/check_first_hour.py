"""The first hour of a new user, checked on what ``pebal predict`` wrote with the demo's model.

    python scripts/check_first_hour.py --clean CLEAN_OUT --test TEST_OUT --labels LABELS [--json F]

``CLEAN_OUT``: a ``pebal predict`` folder of clean driving images the threshold never saw;
``TEST_OUT``: one of anomaly test images, whose labels (0 inlier / 1 anomaly / 255 void, same
file stems) are in ``LABELS``. It reads every score map and the threshold from
``predictions.json`` and checks that the mask is usable:

* on clean images it flags a plausible share of the pixels (at most ``--max-clean-flagged``,
  default 3 %: the demo calibrates to a 1 % budget on other clean scenes);
* on the test images it is drawn to the anomalies: the share of anomalous pixels it flags is at
  least ``--min-enrichment`` (default 20) times the share of inlier pixels it flags, and it
  touches at least ``--min-objects-hit`` (default 30 %) of the anomalous objects (connected
  components of label 1). The demo on benchmark v3 (the default) gives 1.1 % / 84.6x / 44.9 %
  (seed 0, the first 300 road-obstacles images; on v1 it gave 1.0 % / 34.6x / 21.4 %, checked
  then with 5x / 15 %): the bounds leave room for floating-point differences between machines,
  not for a broken mask.

Prints the figures, writes them to ``--json`` when given, and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np


def _outputs(folder: Path) -> tuple[float, list[dict]]:
    summary = json.loads((folder / "predictions.json").read_text())
    if summary.get("threshold") is None:
        raise SystemExit(f"{folder}: predictions without a threshold (was the checkpoint calibrated?)")
    if summary.get("status") != "complete" or summary.get("failures"):
        raise SystemExit(f"{folder}: status {summary.get('status')}, failures {summary.get('failures')}")
    return float(summary["threshold"]), [r for r in summary["outputs"] if r["kind"] == "image"]


def _mask(folder: Path, record: dict, threshold: float) -> np.ndarray:
    return np.load(folder / record["files"]["score"]) >= threshold


def clean_share(folder: Path) -> dict:
    threshold, records = _outputs(folder)
    flagged = pixels = 0
    per_image = []
    for record in records:
        mask = _mask(folder, record, threshold)
        flagged += int(mask.sum())
        pixels += mask.size
        per_image.append(float(mask.mean()))
    return {"images": len(records), "flagged": flagged / pixels, "worst_image": max(per_image)}


def test_coverage(folder: Path, labels: Path) -> dict:
    threshold, records = _outputs(folder)
    inlier_flagged = inlier = anomaly_flagged = anomaly = objects = hit = 0
    for record in records:
        mask = _mask(folder, record, threshold)
        label = cv2.imread(str(labels / f"{Path(record['input']).stem}.png"), cv2.IMREAD_UNCHANGED)
        if label is None or label.shape != mask.shape:
            raise SystemExit(f"label of {record['name']} in {labels}: missing or not {mask.shape}")
        inlier_flagged += int(mask[label == 0].sum())
        inlier += int((label == 0).sum())
        anomaly_flagged += int(mask[label == 1].sum())
        anomaly += int((label == 1).sum())
        count, components = cv2.connectedComponents((label == 1).astype(np.uint8), connectivity=8)
        for k in range(1, count):
            objects += 1
            hit += bool(mask[components == k].any())
    inlier_share = inlier_flagged / max(inlier, 1)
    anomaly_share = anomaly_flagged / max(anomaly, 1)
    return {"images": len(records), "inlier_flagged": inlier_share, "anomaly_flagged": anomaly_share,
            "enrichment": anomaly_share / inlier_share if inlier_share > 0 else float("inf"),
            "objects": objects, "objects_hit": hit / max(objects, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--max-clean-flagged", type=float, default=0.03)
    parser.add_argument("--min-enrichment", type=float, default=20.0)
    parser.add_argument("--min-objects-hit", type=float, default=0.30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    clean, test = clean_share(args.clean), test_coverage(args.test, args.labels)
    checks = {
        "clean images: flagged share <= max": clean["flagged"] <= args.max_clean_flagged,
        "test images: anomalous share / inlier share >= min": test["enrichment"] >= args.min_enrichment,
        "test images: objects hit >= min": test["objects_hit"] >= args.min_objects_hit,
    }
    print(f"clean images ({clean['images']}): {100 * clean['flagged']:.2f} % of pixels flagged "
          f"(worst image {100 * clean['worst_image']:.2f} %; at most {100 * args.max_clean_flagged:g} % expected)")
    print(f"test images ({test['images']}): {100 * test['anomaly_flagged']:.2f} % of anomalous pixels and "
          f"{100 * test['inlier_flagged']:.2f} % of inlier pixels flagged ({test['enrichment']:.1f}x); "
          f"{100 * test['objects_hit']:.1f} % of {test['objects']} anomalous objects touched")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if args.json is not None:
        args.json.write_text(json.dumps({"clean": clean, "test": test, "checks": checks}, indent=1))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
