"""Run time of the data-side real-path commands on the release-layout fixtures of ``tests/realpath``.

Builds the fixture data sets and the two random WideResNet38 checkpoints (NVIDIA and PEBAL
``.pth``) in a temporary folder, then runs each command as a user would (``python -m pebal``
in the data folder, relative paths) and records its wall time, the CPU time of the process
(user + system, children included) and the 1-minute load average when it started:

    pebal data check ...        (every data set)
    pebal export-scores ...     (SMIYC AnomalyTrack / ObstacleTrack test, LostAndFound
                                 testNoKnown, Fishyscapes LostAndFound / Static)
    pebal calibrate --dry-run   (PEBAL's .pth on Fishyscapes LostAndFound)
    pebal predict               (NVIDIA's .pth, two Cityscapes images)
    pebal export --format onnx  (NVIDIA's .pth, verified at 64x128)

    python benchmarks/bench_realpath_data.py [--skip-onnx]

Prints a table and writes ``benchmarks/results/realpath_data.json``. The checkpoints are
about 550 MB each (and the ONNX graph as much); the temporary folder is deleted at the end.
On a machine shared with other jobs the wall times are upper bounds; the CPU times are the
better guide to a quiet two-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pebal.evaluation.report import write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fixture builders: tests/realpath/


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str], cwd: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    load = os.getloadavg()[0]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pebal", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return {"command": "pebal " + " ".join(map(str, args)), "exit": proc.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "load_1min": round(load, 2),
            "last_line": (proc.stdout.strip().splitlines() or [""])[-1][:200]}


def commands(skip_onnx: bool) -> list[list[str]]:
    nv, pb = "ckpt/cityscapes_best.pth", "ckpt/best_ad_ckpt.pth"
    checks = [("cityscapes", "cityscapes", "train"), ("cityscapes", "cityscapes", "val"), ("coco-ood", "coco", None),
              ("lostandfound", "lostandfound", "test"), ("lostandfound", "lostandfound", "testNoKnown"),
              ("fishyscapes-laf", "fishyscapes", None), ("fishyscapes-static", "fishyscapes", None),
              ("road-anomaly", "road_anomaly", None), ("road-anomaly", "RoadAnomaly", None),
              ("smiyc-anomaly", "smiyc", "test"), ("smiyc-obstacle", "smiyc", "test")]
    out = [["data", "check", "--dataset", d, "--root", r] + (["--split", s] if s else []) for d, r, s in checks]
    out += [
        ["export-scores", "--checkpoint", pb, "--dataset", "smiyc-anomaly", "--root", "smiyc", "--split", "test",
         "--out", "submission"],
        ["export-scores", "--checkpoint", pb, "--dataset", "smiyc-obstacle", "--root", "smiyc", "--split", "test",
         "--out", "submission"],
        ["export-scores", "--checkpoint", nv, "--dataset", "lostandfound", "--root", "lostandfound", "--split",
         "testNoKnown", "--out", "submission"],
        ["export-scores", "--checkpoint", nv, "--dataset", "fishyscapes-laf", "--root", "fishyscapes",
         "--out", "fs_laf"],
        ["export-scores", "--checkpoint", nv, "--dataset", "fishyscapes-static", "--root", "fishyscapes", "--out",
         "fs_static", "--format", "png"],
        # tpr95: the fixtures' random weights score every anomalous pixel below 4.5 % of the inliers, so
        # the default false-alarm budget (1 %) has no threshold among the anomaly scores here
        ["calibrate", "--checkpoint", pb, "--dataset", "fishyscapes-laf", "--root", "fishyscapes", "--rule", "tpr95",
         "--device", "cpu", "--dry-run"],
        ["predict", "--checkpoint", nv, "cityscapes/leftImg8bit/val", "--out", "pred", "--device", "cpu"],
    ]
    if not skip_onnx:
        out.append(["export", "--checkpoint", nv, "--format", "onnx", "--out", "ckpt/wrn38.onnx",
                    "--verify-size", "64", "128"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-onnx", action="store_true", help="leave out the ONNX export (2.8 GB peak)")
    args = parser.parse_args()
    from realpath.realpath_checkpoints import random_wrn38, write_nvidia_checkpoint, write_pebal_checkpoint
    from realpath.realpath_tree import build_realdata

    work = Path(tempfile.mkdtemp(prefix="bench_realpath_"))
    try:
        t0 = time.perf_counter()
        build_realdata(work)
        data_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        net = random_wrn38(seed=0)
        write_nvidia_checkpoint(work / "ckpt" / "cityscapes_best.pth", net)
        write_pebal_checkpoint(work / "ckpt" / "best_ad_ckpt.pth", net)
        del net
        ckpt_s = time.perf_counter() - t0
        rows = [run(c, work) for c in commands(args.skip_onnx)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fixtures: data sets {data_s:.1f} s, both WideResNet38 checkpoints {ckpt_s:.1f} s")
    print("| command | exit | wall s | CPU s | load |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['command']}` | {r['exit']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load_1min']:.1f} |")
    write_json(ROOT / "benchmarks" / "results" / "realpath_data.json",
               {"command": "python benchmarks/bench_realpath_data.py" + (" --skip-onnx" if args.skip_onnx else ""),
                "cpu_count": os.cpu_count(), "fixture_data_s": round(data_s, 2),
                "fixture_checkpoints_s": round(ckpt_s, 2), "rows": rows})


if __name__ == "__main__":
    main()
