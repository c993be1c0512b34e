"""Thread defaults under load: the demo's two workloads with the old and the new OpenMP settings,
quiet and with one competing CPU-bound process.

Workload (one subprocess per measurement): ``--steps`` PEBAL fine-tuning steps of the shipped
small model (batch 8, 128x256, the embedded benchmark's training images with AnomalyMix,
forward + backward + Adam), then ``--batches`` evaluation batches (batch 8, forward only).
Settings: ``old`` = the environment without any OpenMP variable (GNU OpenMP busy-waits between
parallel regions; one thread per visible CPU), ``new`` = :func:`pebal.threads.thread_defaults`
(threads = usable cores from affinity and cgroup quota, ``OMP_WAIT_POLICY=PASSIVE``); the
arithmetic is the same (same thread count here), only the waiting differs. Conditions:
``quiet`` and ``loaded`` (a ``while True: pass`` process started by this script). Old and new
alternate; the 1-minute load average is recorded with each row. The full demo under the same
conditions: ``benchmarks/bench_demo_speed.py``.

    setsid python benchmarks/bench_threads.py --repeats 2 --autogroup-nice -20

``--autogroup-nice N`` (run under ``setsid``) raises this benchmark's share of a machine that
other sessions keep busy, a stand-in for a quiet machine (see ``benchmarks/machine.py``); the
value and the load averages are recorded.

Writes ``benchmarks/results/threads.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")


def workload(steps: int, batches: int, root: str) -> dict:
    """Inside the subprocess: seconds per fine-tuning step and per evaluation batch."""
    import torch

    from pebal.config import load_config
    from pebal.losses import build_loss
    from pebal.training.finetune import collate, load_pretrained
    from pebal.training.training_set import build_training_set

    cfg = load_config("embedded", None, ["tensorboard=false", f"data.root={root}"])
    model = load_pretrained(cfg, torch.device("cpu"))
    data = build_training_set(cfg)
    data.set_epoch(0)
    loss_fn = build_loss("pebal", model.num_classes, "reference", energy_weight=0.1, m_in=-8.45, m_out=-3.46)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loaded = [collate([data[i * 8 + j] for j in range(8)]) for i in range(max(steps, batches) + 1)]
    model.train()

    def step(images, labels):
        loss, _ = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(*loaded[0])  # warm-up
    c, t = time.process_time(), time.perf_counter()
    for images, labels in loaded[1: steps + 1]:
        step(images, labels)
    train_wall, train_cpu = (time.perf_counter() - t) / steps, (time.process_time() - c) / steps
    model.eval()
    with torch.no_grad():
        c, t = time.process_time(), time.perf_counter()
        for images, _ in loaded[1: batches + 1]:
            model(images)
        eval_wall, eval_cpu = (time.perf_counter() - t) / batches, (time.process_time() - c) / batches
    return {"step_seconds": train_wall, "step_cpu_seconds": train_cpu, "eval_batch_seconds": eval_wall,
            "eval_batch_cpu_seconds": eval_cpu, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: active spin)")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--root", default=str(ROOT / ".cache" / "synth"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "threads.json"))
    parser.add_argument("--autogroup-nice", type=int, default=None, help="see benchmarks/machine.py")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(workload(args.steps, args.batches, args.root)))
        return 0

    from machine import autogroup_nice, load

    from pebal.evaluation.report import write_json
    from pebal.threads import available_cores, thread_defaults

    priority = autogroup_nice(args.autogroup_nice)
    base = {k: v for k, v in os.environ.items() if k not in OMP_VARIABLES}
    settings = {"old": base, "new": {**base, **thread_defaults(base)}}
    rows = []
    for repeat in range(args.repeats):
        for condition in ("quiet", "loaded"):
            for name, env in settings.items():
                competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) \
                    if condition == "loaded" else None
                before = os.getloadavg()[0]
                try:
                    done = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps), "--batches",
                                           str(args.batches), "--root", args.root], env=env, capture_output=True,
                                          text=True, check=True)
                finally:
                    if competitor is not None:
                        competitor.kill()
                        competitor.wait()
                row = {"setting": name, "condition": condition, "repeat": repeat, "load_average_before": before,
                       "load_average_after": os.getloadavg()[0], **json.loads(done.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(f"{condition:6s} {name:3s} step {row['step_seconds']:6.3f} s (cpu {row['step_cpu_seconds']:.3f})  "
                      f"eval batch {row['eval_batch_seconds']:6.3f} s  load {before:.1f}", flush=True)
    summary = {}
    for name in settings:
        for condition in ("quiet", "loaded"):
            for key in ("step_seconds", "eval_batch_seconds"):
                values = [r[key] for r in rows if r["setting"] == name and r["condition"] == condition]
                summary[f"{name}/{condition}/{key}"] = statistics.median(values)
        for key in ("step_seconds", "eval_batch_seconds"):
            summary[f"{name}/slowdown_under_load/{key}"] = (summary[f"{name}/loaded/{key}"]
                                                           / summary[f"{name}/quiet/{key}"])
    result = {"benchmark": "OpenMP defaults under one competing process (fine-tuning steps, evaluation batches)",
              "command": "python benchmarks/bench_threads.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "usable_cores": available_cores(),
              "new_settings": thread_defaults(base), "priority": priority, "load_at_end": load(), "summary_median": summary, "rows": rows}
    write_json(Path(args.out), result)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
