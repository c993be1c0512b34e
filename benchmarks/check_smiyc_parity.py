"""pebal's SMIYC mode against the SegmentMeIfYouCan benchmark's own code, on the same maps.

Two steps, because the benchmark pins numpy 1.23 (its requirements.txt) and pebal needs >= 1.24:

    # 1. in an environment with numpy==1.23.3 and scipy, beside a checkout of
    #    github.com/SegmentMeIfYouCan/road-anomaly-benchmark (commit 1c7804e):
    python benchmarks/check_smiyc_parity.py --benchmark PATH/road-anomaly-benchmark --reference-out ref.json
    # 2. in pebal's environment:
    python benchmarks/check_smiyc_parity.py --compare ref.json

Step 1 loads the benchmark's functions (``binary_confusion_matrix``, ``aggregate_dynamic_bins``,
``curves_from_cmats``, ``default_instancer``, ``segment_metrics``) from the checkout's files at
run time, without its package imports, and evaluates seeded maps (float16 continuous, saturated
and binary maps, float32 scores and energies) for every order of the frames (the benchmark's
result depends on it when frames share the top threshold). Step 2 computes pebal's numbers on
the same maps and reports, per data set, the largest difference to the closest of the
benchmark's outcomes, and the per-component sIoU / PPV lists against the benchmark's. Writes
``benchmarks/results/smiyc_parity.json``.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import sys
from pathlib import Path

import numpy as np

PIXEL_KEYS = ("auroc", "ap", "fpr95", "fpr95_threshold", "best_f1", "best_f1_threshold")
FRAMES = 6


def datasets() -> dict:
    from scipy import ndimage

    rng = np.random.default_rng(1)
    out = {}
    for name in ("continuous16", "saturated16", "binary16", "continuous32", "energy32"):
        scores, labels = [], []
        for i in range(FRAMES):
            h, w = 60, 80
            lab = np.zeros((h, w), np.uint8)
            for _ in range(rng.integers(1, 4)):
                y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
                lab[y : y + rng.integers(2, 12), x : x + rng.integers(2, 12)] = 1
            lab[:5] = 255
            lab[rng.random((h, w)) < 0.02] = 255
            base = ndimage.gaussian_filter(rng.standard_normal((h, w)), 3)
            base = (base - base.min()) / (np.ptp(base) + 1e-9)
            if name.startswith("continuous"):
                s = 0.6 * base + 0.5 * (lab == 1) * rng.random((h, w))
            elif name == "saturated16":
                s = np.clip(1.3 * base + 0.8 * (lab == 1) - 0.2, 0, 1)
            elif name == "binary16":
                s = ((0.5 * base + 0.6 * (lab == 1) * rng.random((h, w))) > 0.45).astype(float)
            else:
                s = -12 + 3 * base + 4 * (lab == 1) * rng.random((h, w))
            if i == 2:
                lab[lab == 1] = 0  # a frame without anomaly
            scores.append(s.astype(np.float16 if name.endswith("16") else np.float32))
            labels.append(lab)
        out[name] = (np.stack(scores), np.stack(labels))
    return out


class _EasyDict(dict):
    __getattr__ = dict.__getitem__


def load_benchmark(root: Path) -> dict:
    """The benchmark's metric functions, read from its files (no package imports)."""
    from scipy.ndimage import label

    files = {"pixel_classification.py": {"binary_confusion_matrix", "aggregate_dynamic_bins"},
             "pixel_classification_curves.py": {"curves_from_cmats"},
             "instance_segmentation.py": {"default_instancer", "segment_metrics"}}
    ns = {"np": np, "EasyDict": _EasyDict, "label": label, "print": lambda *a, **k: None}
    for fname, names in files.items():
        path = root / "road_anomaly_benchmark" / "metrics" / fname
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                node.decorator_list = []
                exec(compile(ast.Module([node], []), str(path), "exec"), ns)
    return ns


def reference(args) -> int:
    ns = load_benchmark(Path(args.benchmark))
    res = {}
    for name, (scores, labels) in datasets().items():
        frames = [ns["binary_confusion_matrix"](prob=s[lab < 255], gt_label_bool=lab[lab < 255].astype(bool),
                                                num_bins=768, bin_strategy="percentiles")
                  for s, lab in zip(scores, labels)]
        outcomes = set()
        for perm in itertools.permutations(range(FRAMES)):
            ag = ns["aggregate_dynamic_bins"]([frames[i] for i in perm])
            c = ns["curves_from_cmats"](ag["cmat"], ag["thresholds"])
            outcomes.add(tuple(float(c[k]) for k in ("area_ROC", "area_PRC", "tpr95_fpr", "tpr95_threshold",
                                                      "best_f1", "best_f1_threshold")))
        ag = ns["aggregate_dynamic_bins"](frames)
        thr = np.float64(ns["curves_from_cmats"](ag["cmat"], ag["thresholds"])["best_f1_threshold"])
        comps = {}
        for track, (seg, inst) in {"anomaly": (500, 100), "obstacle": (50, 10)}.items():
            per = [ns["segment_metrics"](*ns["default_instancer"](s, lab, thr, seg, inst)[:2])
                   for s, lab in zip(scores, labels)]
            comps[track] = {"siou_gt": [float(x) for r in per for x in r["sIoU_gt"]],
                            "ppv": [float(x) for r in per for x in r["prec_pred"]]}
        res[name] = {"outcomes": sorted(outcomes), "threshold_in_frame_order": float(thr), "components": comps}
    Path(args.reference_out).write_text(json.dumps({"numpy": np.__version__, "results": res}))
    print(f"wrote {args.reference_out} (numpy {np.__version__})")
    return 0


def compare(args) -> int:
    from pebal.atomic import write_atomically
    from pebal.metrics import SMIYC_VERSION, ComponentMetrics, pixel_metrics

    ref = json.loads(Path(args.compare).read_text())
    rows = {}
    for name, (scores, labels) in datasets().items():
        r = pixel_metrics(scores, labels, mode="smiyc")
        mine = np.array([r[k] for k in PIXEL_KEYS])
        diffs = [float(np.abs(np.array(o) - mine).max()) for o in ref["results"][name]["outcomes"]]
        row = {"benchmark_outcomes": len(diffs), "max_abs_diff_to_closest": min(diffs)}
        for track, expected in ref["results"][name]["components"].items():
            m = ComponentMetrics(ref["results"][name]["threshold_in_frame_order"], track=track, strict=True)
            m.update(scores, labels)
            recs = m.components()
            row[f"{track}_components_equal"] = (
                [c.siou for c in recs if c.kind == "gt"] == expected["siou_gt"]
                and [c.ppv for c in recs if c.kind == "pred"] == expected["ppv"])
            row[f"{track}_components"] = len(recs)
        rows[name] = row
        print(f"{name:<14} outcomes {row['benchmark_outcomes']:3d}  max |diff| {row['max_abs_diff_to_closest']:.2e}  "
              f"components equal: anomaly {row['anomaly_components_equal']}, obstacle {row['obstacle_components_equal']}")
    out = Path(__file__).parent / "results" / "smiyc_parity.json"
    payload = {"matched": SMIYC_VERSION, "benchmark_numpy": ref["numpy"], "numpy": np.__version__, "rows": rows,
               "command": "python benchmarks/check_smiyc_parity.py --compare REF.json"}
    write_atomically(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    print(f"wrote {out}")
    ok = all(r["max_abs_diff_to_closest"] <= 1e-12 and r["anomaly_components_equal"] and r["obstacle_components_equal"]
             for r in rows.values())
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", help="checkout of road-anomaly-benchmark (step 1)")
    ap.add_argument("--reference-out", help="where step 1 writes the benchmark's numbers")
    ap.add_argument("--compare", help="the file step 1 wrote (step 2)")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(args)
    if args.benchmark and args.reference_out:
        return reference(args)
    ap.error("give --benchmark and --reference-out (step 1) or --compare (step 2)")
    return 2


if __name__ == "__main__":
    sys.exit(main())
