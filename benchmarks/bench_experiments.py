"""The paper's tables on the embedded benchmark: runs (or resumes) ``pebal experiment NAME``
for each name into ``--out/NAME/`` and copies its table to ``benchmarks/results/NAME.{json,md}``,
with the machine's load (the ablation's table says whether the paper's ordering holds).

    python benchmarks/bench_experiments.py                         # all five, 3 seeds each
    python benchmarks/bench_experiments.py ablation methods --seeds 0 1 2

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
    parser.add_argument("--out", default="runs/experiments")
    parser.add_argument("--results", default="benchmarks/results")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override of every run")
    args = parser.parse_args()

    for name in args.names:
        started = time.perf_counter()
        results = run_experiment(name, out=Path(args.out) / name, seeds=args.seeds, overrides=args.overrides,
                                 progress=False)
        results["benchmark"] = {"seconds_this_call": time.perf_counter() - started, "load_average": os.getloadavg(),
                                "command": f"python benchmarks/bench_experiments.py {name}"
                                           + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds else "")}
        table = (Path(args.out) / name / "results.md").read_text()
        write_json(Path(args.results) / f"{name}.json", results)
        (Path(args.results) / f"{name}.md").write_text(table)
        print(table, flush=True)
    print(f"written {args.results}/<name>.json and .md")


if __name__ == "__main__":
    main()
