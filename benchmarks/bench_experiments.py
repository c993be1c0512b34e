"""The paper's tables on the embedded benchmark: runs (or resumes) ``pebal experiment NAME``
for each name into ``--out/NAME/`` and copies its table to ``--results/NAME.{json,md}``, with the
machine's load (the ablation's table says whether the paper's ordering holds).

    python benchmarks/bench_experiments.py                         # all five on benchmark v3, 3 seeds each
    python benchmarks/bench_experiments.py ablation methods --seeds 0 1 2
    python benchmarks/bench_experiments.py --preset embedded-v1    # the same on benchmark v1

Benchmark v3 (the default) writes to ``runs/experiments-v3`` and ``benchmarks/results/v3``;
``--preset embedded-v1`` to ``runs/experiments`` and ``benchmarks/results`` (where v1's tables were
always kept).

Finished runs are reused, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from pebal.experiments import run_experiment
from pebal.evaluation.report import write_json

NAMES = ("ablation", "methods", "outlier_diversity", "outlier_size", "efficiency")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(NAMES), help=f"experiments (default: {' '.join(NAMES)})")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: each config's seeds (0 1 2)")
    parser.add_argument("--preset", choices=("embedded", "embedded-v1"),
                        help="embedded (benchmark v3, the default) or embedded-v1")
    parser.add_argument("--out", help="default: runs/experiments-v3 (v1: runs/experiments)")
    parser.add_argument("--results", help="default: benchmarks/results/v3 (v1: benchmarks/results)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override of every run")
    args = parser.parse_args()
    v1 = args.preset == "embedded-v1"
    args.out = args.out or ("runs/experiments" if v1 else "runs/experiments-v3")
    args.results = args.results or ("benchmarks/results" if v1 else "benchmarks/results/v3")

    for name in args.names:
        started = time.perf_counter()
        results = run_experiment(name, out=Path(args.out) / name, seeds=args.seeds, overrides=args.overrides,
                                 progress=False, preset=args.preset)
        results["benchmark"] = {"seconds_this_call": time.perf_counter() - started, "load_average": os.getloadavg(),
                                "command": f"python benchmarks/bench_experiments.py {name}"
                                           + (f" --preset {args.preset}" if args.preset else "")
                                           + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds else "")}
        table = (Path(args.out) / name / "results.md").read_text()
        write_json(Path(args.results) / f"{name}.json", results)
        (Path(args.results) / f"{name}.md").write_text(table)
        print(table, flush=True)
    print(f"written {args.results}/<name>.json and .md")


if __name__ == "__main__":
    main()
