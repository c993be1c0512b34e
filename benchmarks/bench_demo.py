"""The demo's claims over several fine-tuning seeds: does PEBAL beat every post-hoc baseline
in AP and FPR95 on every embedded test set, and how much inlier mIoU does it cost?

Runs ``pebal demo`` once per (seed, margin setting) into ``--out/<margins>-seed<k>/`` (a run
whose results.json exists is reused, so an interrupted benchmark resumes), then prints
mean and spread per method and writes ``benchmarks/results/demo.json``.

    python benchmarks/bench_demo.py --seeds 0 1 2 --margins fixed auto                 # benchmark v3 (default)
    python benchmarks/bench_demo.py --preset embedded-v1 --seeds 0 1 2 --margins fixed auto  # benchmark v1

v3 writes to ``runs/bench_demo-v3`` and ``benchmarks/results/v3/demo.json``; v1 to ``runs/bench_demo``
and ``benchmarks/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from pebal.evaluation.demo import BASELINES, run_demo
from pebal.evaluation.report import write_json

METHODS = ("pebal", "bn_control", *BASELINES)
METRICS = ("auroc", "ap", "fpr95")


def _mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "values": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--margins", nargs="+", default=["fixed", "auto"], choices=["fixed", "auto"])
    parser.add_argument("--preset", default="embedded", choices=("embedded", "embedded-v1"),
                        help="embedded (benchmark v3, default) or embedded-v1")
    parser.add_argument("--out", help="default: runs/bench_demo-v3 (v1: runs/bench_demo)")
    parser.add_argument("--json", help="default: benchmarks/results/v3/demo.json (v1: benchmarks/results/demo.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()
    v1 = args.preset == "embedded-v1"
    args.out = args.out or ("runs/bench_demo" if v1 else "runs/bench_demo-v3")
    args.json = args.json or ("benchmarks/results/demo.json" if v1 else "benchmarks/results/v3/demo.json")

    summary: dict = {"seeds": args.seeds, "preset": args.preset, "overrides": args.overrides, "settings": {}}
    for margins in args.margins:
        runs = []
        for seed in args.seeds:
            out = Path(args.out) / f"{margins}-seed{seed}"
            if (out / "results.json").is_file():
                runs.append(json.loads((out / "results.json").read_text()))
                continue
            started = time.perf_counter()
            runs.append(run_demo(out, preset=args.preset, progress=False,
                                 overrides=[f"seed={seed}", f"loss.margins={margins}", *args.overrides]))
            print(f"{margins} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
        sets = [k for k in runs[0] if isinstance(runs[0][k], dict) and "pebal" in runs[0][k]]
        setting: dict = {"test_sets": {}, "runs": [str(Path(args.out) / f"{margins}-seed{s}") for s in args.seeds]}
        for name in sets:
            setting["test_sets"][name] = {
                m: {k: _mean_std([r[name][m][k] for r in runs]) for k in METRICS} for m in METHODS
            }
            setting["test_sets"][name]["pebal_wins_every_seed"] = {
                "ap": all(r["checks"][name]["ap_beats_all_baselines"] for r in runs),
                "fpr95": all(r["checks"][name]["fpr95_beats_all_baselines"] for r in runs),
            }
        setting["miou"] = {m: _mean_std([r["miou"][m]["miou"] for r in runs]) for m in runs[0]["miou"]}
        setting["miou_drop_points"] = _mean_std([r["checks"]["miou_drop_points"] for r in runs])
        setting["demo_seconds"] = _mean_std([r["timings"]["total"] for r in runs])
        setting["margins_used"] = [r.get("margins") for r in runs]
        summary["settings"][margins] = setting

        print(f"\n== margins: {margins} (seeds {args.seeds}) — mean ± std, %")
        for name in sets:
            print(f"\n{name}: {'method':<11} " + "  ".join(f"{k:>15}" for k in METRICS))
            for m in METHODS:
                cells = [setting["test_sets"][name][m][k] for k in METRICS]
                print(f"  {m:<22} " + "  ".join(f"{100 * c['mean']:7.2f} ± {100 * c['std']:5.2f}" for c in cells))
            print(f"  PEBAL beats every baseline on every seed: {setting['test_sets'][name]['pebal_wins_every_seed']}")
        d = setting["miou_drop_points"]
        print(f"\ninlier mIoU drop: {d['mean']:.2f} ± {d['std']:.2f} points; "
              f"demo time {setting['demo_seconds']['mean']:.0f} s (max {setting['demo_seconds']['max']:.0f} s)")
    write_json(args.json, summary)
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
