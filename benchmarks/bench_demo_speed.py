"""``pebal demo`` wall time: the current code against a baseline commit, quiet and under load.

Each variant runs the real command, ``python -m pebal demo --quiet``, in a subprocess whose
``PYTHONPATH`` is the variant's ``src``: ``new`` is this checkout, ``old`` the tree of
``--baseline`` (default: the commit before the issue-16 speed-ups), exported with ``git archive``.
OpenMP variables are removed from their environment, so each runs with its own defaults.
Both use the same cached embedded benchmark (``--root``); ``--fresh`` points each run at an
empty folder instead, so that generating the benchmark is included (a fresh clone).

Conditions: ``quiet`` (nothing started by the benchmark) and ``loaded``: one CPU-bound
competitor process (``while True: pass``) started before the run and stopped after it. Old and
new alternate within each condition, so they see similar machine load; the 1-minute load
average before and after every run is recorded. Per run: wall seconds, CPU seconds of the
demo process, its own phase timings (``results.json``), and whether its numbers (every AUROC,
AP, FPR95 and mIoU) equal the other variant's for the same seed.

``--autogroup-nice N`` (run under ``setsid``) raises this benchmark's share of a machine that
other sessions keep busy, a stand-in for a quiet machine (see ``benchmarks/machine.py``); the
value and the load averages are recorded.

``--py-spy`` records each run with py-spy (if installed) and adds the share of samples per
demo phase and per operation to the JSON (the README's profile).

    setsid python benchmarks/bench_demo_speed.py --autogroup-nice -20   # quiet + loaded, old + new
    python benchmarks/bench_demo_speed.py --conditions quiet --variants new --fresh

Writes ``benchmarks/results/demo_speed.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from pebal.paths import default_benchmark_root, shipped_weights

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the shared trunk, the forward-only control and the thread defaults.
BASELINE = "ac60035"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")
PHASES = ("prepare_benchmark", "resolve_margins", "finetune", "evaluate_anomaly", "evaluate_segmentation",
          "_examples", "plot_curves", "example_grid", "load_checkpoint")


def export_tree(ref: str, into: Path) -> Path:
    """The ``src`` folder of commit ``ref``, written under ``into``."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"], capture_output=True,
                          check=True).stdout
    tar_path = into / "src.tar"
    tar_path.write_bytes(data)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def metric_numbers(results: dict) -> dict[str, float]:
    """Every AUROC / AP / FPR95 of every set and method, and every mIoU, flattened."""
    flat = {}
    for name, entry in results.items():
        if isinstance(entry, dict) and "pebal" in entry:
            for method, metrics in entry.items():
                for key in ("auroc", "ap", "fpr95"):
                    flat[f"{name}/{method}/{key}"] = metrics[key]
    for model, entry in results.get("miou", {}).items():
        flat[f"miou/{model}"] = entry["miou"]
    return flat


def summarise_profile(path: Path) -> dict:
    """py-spy raw stacks -> share of samples per demo phase and per innermost function."""
    phases, leaves, total = collections.Counter(), collections.Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        phase = "other"
        for frame in frames:
            for name in PHASES:
                if frame.startswith(f"{name} ("):
                    phase = name
        phases[phase] += n
        leaves[frames[-1].split(" (")[0]] += n
    share = lambda c: {k: round(v / total, 4) for k, v in c.most_common(20)}  # noqa: E731
    return {"samples": total, "phases": share(phases), "functions": share(leaves)}


def py_spy() -> str | None:
    """The py-spy executable: on PATH or next to this Python (a virtual environment's bin)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def run_demo(src: Path, out: Path, root: Path, seed: int, profile: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["PYTHONPATH"] = str(src)
    # the shipped model by absolute path: older commits looked for it under the repository's weights/
    cmd = [sys.executable, "-m", "pebal", "demo", "--out", str(out), "--quiet", "--set", f"data.root={root}",
           "--set", f"checkpoint={shipped_weights()}", "--seed", str(seed)]
    if profile is not None:
        cmd = [py_spy(), "record", "-r", "20", "-f", "raw", "-o", str(profile), "--", *cmd]
    check = subprocess.run([sys.executable, "-c", "import pebal; print(pebal.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not check.startswith(str(src)):
        raise SystemExit(f"PYTHONPATH={src} imports pebal from {check}: the variant would not be measured")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # under py-spy the demo is a grandchild whose time this process does not see
    row = {"wall_seconds": wall, "cpu_seconds": None if profile is not None else cpu,
           "load_average_before": load, "load_average_after": os.getloadavg()[0]}
    if done.returncode != 0:
        return {**row, "error": done.stderr.strip()[-2000:]}
    results = json.loads((out / "results.json").read_text())
    row["phases"] = results["timings"]
    row["numbers"] = metric_numbers(results)
    if profile is not None and profile.is_file():
        row["profile"] = summarise_profile(profile)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the old code")
    parser.add_argument("--variants", nargs="+", default=["old", "new"], choices=["old", "new"])
    parser.add_argument("--conditions", nargs="+", default=["quiet", "loaded"], choices=["quiet", "loaded"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=str(default_benchmark_root()), help="the cached embedded benchmark")
    parser.add_argument("--fresh", action="store_true", help="generate the benchmark in each run (a fresh clone)")
    parser.add_argument("--py-spy", action="store_true", help="profile each run with py-spy")
    parser.add_argument("--autogroup-nice", type=int, default=None, help="see benchmarks/machine.py")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench_demo_speed"))
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "demo_speed.json"))
    args = parser.parse_args(argv)
    if args.py_spy and py_spy() is None:
        raise SystemExit("--py-spy: py-spy is not installed (pip install py-spy)")

    from machine import autogroup_nice, load

    from pebal.evaluation.report import write_json
    from pebal.threads import available_cores

    priority = autogroup_nice(args.autogroup_nice)
    out = Path(args.out)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"new": ROOT / "src"}
        if "old" in args.variants:
            sources["old"] = export_tree(args.baseline, Path(tmp))
        for condition in args.conditions:
            for repeat in range(args.repeats):
                for variant in args.variants:
                    name = f"{condition}-{variant}-{repeat}"
                    run_out = out / name
                    shutil.rmtree(run_out, ignore_errors=True)
                    root = Path(tmp) / f"synth-{name}" if args.fresh else Path(args.root)
                    competitor = None
                    if condition == "loaded":
                        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    try:
                        profile = run_out.parent / f"{name}.pyspy.txt" if args.py_spy else None
                        row = run_demo(sources[variant], run_out, root, args.seed, profile)
                    finally:
                        if competitor is not None:
                            competitor.kill()
                            competitor.wait()
                    if args.fresh:
                        shutil.rmtree(root, ignore_errors=True)
                    row.update(variant=variant, condition=condition, repeat=repeat, fresh=args.fresh)
                    rows.append(row)
                    phases = " ".join(f"{k} {v:.0f}" for k, v in row.get("phases", {}).items())
                    print(f"{name:18s} wall {row['wall_seconds']:7.1f} s  cpu {row['cpu_seconds'] or float('nan'):7.1f} s  "
                          f"load {row['load_average_before']:.1f}->{row['load_average_after']:.1f}  {phases}"
                          f"{'  FAILED: ' + row['error'][-300:] if 'error' in row else ''}", flush=True)

    numbers = {(r["variant"], r["condition"], r["repeat"]): r.get("numbers") for r in rows}
    reference = next((n for n in numbers.values() if n), None)
    identical = all(n == reference for n in numbers.values() if n is not None)
    by = collections.defaultdict(list)
    for r in rows:
        if "error" not in r:
            by[(r["condition"], r["variant"])].append(r["wall_seconds"])
    summary = {f"{c}/{v}": min(w) for (c, v), w in by.items()}
    for v in args.variants:
        if f"quiet/{v}" in summary and f"loaded/{v}" in summary:
            summary[f"slowdown_under_load/{v}"] = summary[f"loaded/{v}"] / summary[f"quiet/{v}"]
    for c in args.conditions:
        if f"{c}/old" in summary and f"{c}/new" in summary:
            summary[f"speedup/{c}"] = summary[f"{c}/old"] / summary[f"{c}/new"]
    result = {
        "benchmark": "pebal demo wall time, current code vs baseline, quiet and with one competing process",
        "command": "python benchmarks/bench_demo_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "baseline": args.baseline, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "usable_cores": available_cores(), "cpu_count": os.cpu_count(), "priority": priority,
        "load_at_end": load(),
        "identical_numbers_across_runs": identical, "summary_min_wall_seconds": summary, "runs": rows,
    }
    write_json(Path(args.json), result)
    print(json.dumps(summary, indent=1))
    print(f"numbers identical across every run: {identical}\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
