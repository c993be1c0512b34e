"""Run time of the training-side real-path commands on the release-layout fixtures of ``tests/realpath``.

Builds the fixture data sets and NVIDIA's ``cityscapes_best.pth`` format (a random, full-size
WideResNet38, 550 MB) in a temporary folder, then runs each command of
``tests/realpath/test_realpath_training.py`` as a user would (``python -m pebal`` in the data
folder, relative paths; tiny budget: 2 steps of batch 2 on 64x64 crops, one seed) and records
its wall time, the CPU time of its processes (user + system, children included) and the
1-minute load average when it started:

    pebal train --preset paper | reference          (1 process)
    pebal train --preset paper --resume             (from the state of step 1)
    pebal evaluate ... (from another folder)        (LostAndFound test + Cityscapes val mIoU)
    torchrun --nproc_per_node 2 -m pebal evaluate   (the same, 2 gloo processes)
    pebal experiment ablation --preset paper --test-set lostandfound:test=...   (1 step per row)
    torchrun --nproc_per_node 2 -m pebal train --preset paper   (2 x batch 1)

    python benchmarks/bench_realpath_train.py

Prints a table and writes ``benchmarks/results/realpath_train.json``. On a machine shared with
other jobs the wall times are upper bounds; the CPU times are the better guide to a quiet
two-core machine. The temporary folder (about 5 GB of fine-tuned models) is deleted at the end.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pebal.evaluation.report import write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fixture builders: tests/realpath/

TINY = ["optim.max_steps=2", "optim.batch_size=2", "data.crop=[64,64]", "checkpoint_every=1", "tensorboard=false",
        "progress=false", "threads=2"]
DATA = ["--cityscapes", "cityscapes", "--coco", "coco", "--checkpoint", "ckpt/cityscapes_best.pth"]


def _sets(pairs: list[str]) -> list[str]:
    return [a for pair in pairs for a in ("--set", pair)]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], cwd: Path, processes: int = 1, env_extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               **(env_extra or {}))
    launcher = [sys.executable, "-m", "pebal"] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr",
        "127.0.0.1", "--master_port", str(_free_port()), "-m", "pebal"]
    load = os.getloadavg()[0]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([*launcher, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    prefix = "pebal " if processes == 1 else f"torchrun --nproc_per_node {processes} -m pebal "
    return {"command": prefix + " ".join(map(str, args)), "exit": proc.returncode, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "load_1min": round(load, 2),
            "last_line": (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or [""])[-1][:200]}


def _killed_after_one_step(work: Path) -> None:
    """The state a kill after step 1 leaves (``finetune(stop_after=1)``), for the resume row."""
    from pebal.config import load_config
    from pebal.training.finetune import finetune

    cwd = os.getcwd()
    os.chdir(work)
    try:
        finetune(load_config("paper", overrides=["data.root=cityscapes", "data.outlier_root=coco",
                                                 "checkpoint=ckpt/cityscapes_best.pth", "out=runs/resumed", *TINY]),
                 stop_after=1)
    finally:
        os.chdir(cwd)


def main() -> None:
    from realpath.realpath_checkpoints import random_wrn38, write_nvidia_checkpoint
    from realpath.realpath_tree import build_realdata

    work = Path(tempfile.mkdtemp(prefix="bench_realpath_train_"))
    rows = []
    try:
        t0 = time.perf_counter()
        build_realdata(work)
        write_nvidia_checkpoint(work / "ckpt" / "cityscapes_best.pth", random_wrn38(seed=0))
        fixtures_s = time.perf_counter() - t0
        rows.append(run(["train", "--preset", "paper", *DATA, "--out", "runs/paper", *_sets(TINY)], work))
        rows.append(run(["train", "--preset", "reference", *DATA, "--out", "runs/reference", *_sets(TINY)], work))
        _killed_after_one_step(work)
        rows.append(run(["train", "--preset", "paper", *DATA, "--out", "runs/resumed", "--resume", *_sets(TINY)], work))
        elsewhere = work / "elsewhere"
        elsewhere.mkdir()
        evaluate = ["evaluate", "--checkpoint", work / "runs" / "paper" / "model.safetensors", "--dataset",
                    "lostandfound", "--root", work / "lostandfound", "--split", "test", "--inlier-dataset",
                    "cityscapes", "--inlier-root", work / "cityscapes", "--batch-size", "1", "--quiet"]
        one_thread = {"OMP_NUM_THREADS": "1"}
        rows.append(run([*evaluate, "--out", "one"], elsewhere, env_extra=one_thread))
        rows.append(run([*evaluate, "--out", "two"], elsewhere, processes=2, env_extra=one_thread))
        rows.append(run(["experiment", "ablation", "--preset", "paper", *DATA, "--test-set",
                         "lostandfound:test=lostandfound", "--seeds", "0", "--bootstrap", "5", "--quiet", "--out",
                         "runs/ablation", *_sets([*TINY[:3], "optim.max_steps=1", "tensorboard=false", "threads=2"])],
                        work))
        rows.append(run(["train", "--preset", "paper", *DATA, "--out", "runs/torchrun",
                         *_sets([*TINY, "optim.batch_size=1"])], work, processes=2, env_extra=one_thread))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fixtures: data sets and NVIDIA's WideResNet38 checkpoint {fixtures_s:.1f} s")
    print("| command | exit | wall s | CPU s | load |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['command']}` | {r['exit']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load_1min']:.1f} |")
    write_json(ROOT / "benchmarks" / "results" / "realpath_train.json",
               {"command": "python benchmarks/bench_realpath_train.py", "cpu_count": os.cpu_count(),
                "fixtures_s": round(fixtures_s, 2), "rows": rows})


if __name__ == "__main__":
    main()
