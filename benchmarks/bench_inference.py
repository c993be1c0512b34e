"""Full-resolution (1024x2048) inference: seconds per image and peak memory of each backbone.

For ``deeplabv3plus_wrn38`` (the published checkpoints' network, 137M parameters) and
``deeplabv3plus_small``, with the abstention channel (20 outputs), batch size 1, eval mode,
``torch.inference_mode``: one forward pass from the normalised image to the logits plus
PEBAL's anomaly score (:func:`pebal.energy.anomaly_score`). Weights are seeded random (speed
and memory do not depend on their values); inputs are seeded random images.

Each model runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own: ``model_rss_mb`` is the peak after building the model and one warm-up pass at 128x256,
``peak_rss_mb`` the peak after the timed full-size passes. On CUDA the figures are
``torch.cuda.max_memory_allocated`` instead.

    python benchmarks/bench_inference.py                      # CPU, 2 images per model
    python benchmarks/bench_inference.py --images 1 --device cuda

Prints a table and writes ``benchmarks/results/inference.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from pebal.evaluation.report import write_json

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("deeplabv3plus_wrn38", "deeplabv3plus_small")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(name: str, images: int, height: int, width: int, device: str) -> dict:
    """Run inside the subprocess: build, warm up, time ``images`` full-size passes."""
    import torch

    from pebal.energy import anomaly_score
    from pebal.models import create_model

    g = torch.Generator().manual_seed(0)
    model = create_model(name, num_classes=20, generator=g).to(device).eval()
    params = sum(p.numel() for p in model.parameters())

    def run(x):
        logits = model(x)
        score = anomaly_score(logits, 19)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return score

    with torch.inference_mode():
        run(torch.randn(1, 3, 128, 256, generator=g).to(device))
        model_mem = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else _rss_mb()
        times = []
        for _ in range(images):
            x = torch.randn(1, 3, height, width, generator=g).to(device)
            start = time.perf_counter()
            score = run(x)
            times.append(time.perf_counter() - start)
            assert score.shape == (1, height, width) and bool(torch.isfinite(score).all())
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else _rss_mb()
    return {
        "model": name, "parameters": params, "device": device, "threads": torch.get_num_threads(),
        "size": [height, width], "images": images, "seconds_per_image": sum(times) / len(times),
        "seconds": times, "model_rss_mb" if device == "cpu" else "model_cuda_mb": round(model_mem, 1),
        "peak_rss_mb" if device == "cpu" else "peak_cuda_mb": round(peak, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="timed images per model (default 2)")
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 2048), metavar=("H", "W"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "inference.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    h, w = args.size
    if args.child is not None:
        print(json.dumps(measure(args.child, args.images, h, w, args.device)))
        return 0

    from pebal.threads import thread_defaults

    # the children run with the defaults of the `pebal` command (usable cores, sleeping waits)
    env = {**os.environ, **thread_defaults()}
    rows = []
    for name in args.models:
        cmd = [sys.executable, __file__, "--child", name, "--images", str(args.images),
               "--size", str(h), str(w), "--device", args.device]
        load = os.getloadavg()[0]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(f"benchmark of {name} failed (exit {done.returncode})")
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]), "load_average_before": load,
                     "load_average_after": os.getloadavg()[0]})

    mem = "rss" if args.device == "cpu" else "cuda"
    print(f"{'model':<22} {'params':>12} {'device':>7} {'thr':>4} {'size':>10} {'s/image':>9} "
          f"{'model MB':>9} {'peak MB':>9}")
    for r in rows:
        print(f"{r['model']:<22} {r['parameters']:>12,} {r['device']:>7} {r['threads']:>4} "
              f"{r['size'][0]}x{r['size'][1]:<5} {r['seconds_per_image']:>9.2f} "
              f"{r[f'model_{mem}_mb']:>9.0f} {r[f'peak_{mem}_mb']:>9.0f}")
    import torch

    result = {
        "benchmark": "inference at full resolution (network + anomaly score, batch 1)",
        "command": "python benchmarks/bench_inference.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version(), "torch": torch.__version__},
        "results": rows,
    }
    out = Path(args.out)
    write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
