"""Inference speed and peak memory: PyTorch eager vs onnxruntime, on this machine's CPU.

Measures the whole path of ``pebal predict`` from a uint8 RGB image to the smoothed score map
and the segmentation (normalisation, network, energy, 7x7 Gaussian, argmax), batch size 1:

* PyTorch: :meth:`pebal.inference.predictor.Predictor.predict` on ``--device`` (default cpu);
* onnxruntime: the graph of :func:`pebal.inference.onnx_export.export_onnx` run by :func:`pebal.inference.onnx_export.run_onnx`
  (CPU execution provider, default threads).

Each (model, size, backend) runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``) is its own. ``setup_rss_mb`` is the peak after loading the model (or creating
the onnxruntime session) and one warm-up pass at 64x128, ``peak_rss_mb`` the peak after the
timed passes; their difference is what inference at that size adds. Inputs are seeded random
images (speed does not depend on content). The small model uses the shipped weights when
``pebal/weights/deeplabv3plus_small.safetensors`` exists, else a seeded untrained model of the same
architecture (same speed); the JSON says which.

    python benchmarks/bench_predict.py                 # small model at 256x512 and 1024x2048
    python benchmarks/bench_predict.py --wrn38         # also the WideResNet38 at 1024x2048 (1 image)
    python benchmarks/bench_predict.py --threads 1     # one intra-op thread in both libraries

On a machine shared with other jobs, multi-threaded PyTorch can slow down several-fold when a
core is busy (its threads wait for each other); ``--threads 1`` measures a single core.

Prints a table and writes ``benchmarks/results/predict.json``; rows of an earlier run that were
not measured again (e.g. the WideResNet38 ones after a plain run) are kept, each row with its
command and time. The machine may be shared: each row records the 1-minute load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pebal.evaluation.report import write_json
from pebal.paths import SHIPPED_MODEL, weights_dir

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = weights_dir() / SHIPPED_MODEL
Y = 19


def _rss_mb() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_checkpoint(architecture: str, folder: Path) -> tuple[Path, str]:
    """A checkpoint path for ``architecture`` and a note on where its weights come from."""
    import torch

    from pebal.models import create_model, save_checkpoint

    if architecture == "deeplabv3plus_small" and SHIPPED.is_file():
        return SHIPPED, f"shipped weights pebal/weights/{SHIPPED.name}"
    path = folder / f"{architecture}.safetensors"
    net = create_model(architecture, num_classes=Y + 1, generator=torch.Generator().manual_seed(0))
    save_checkpoint(path, net, architecture=architecture, num_classes=Y, abstention=True)
    return path, "untrained, seeded (speed and memory do not depend on the weights)"


def worker(args) -> dict:
    """One measurement in this process (called through the command line by :func:`measure`)."""
    import numpy as np
    import torch

    h, w = args.size
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    warm = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    if args.backend == "torch":
        from pebal.inference.predictor import Predictor

        predictor = Predictor(args.checkpoint, device=args.device, keep_image=False)
        predictor.predict(warm)

        def run():
            predictor.predict(image)
            if predictor.device.type == "cuda":
                torch.cuda.synchronize()
    else:
        from pebal.inference.onnx_export import onnx_session, run_onnx

        session = onnx_session(args.onnx, threads=args.threads or None)
        run_onnx(session, warm[None])

        def run():
            run_onnx(session, image[None])

    setup = _rss_mb()
    for _ in range(args.warmup):
        run()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {
        "seconds_per_image": float(np.median(times)),
        "images_per_second": 1.0 / float(np.median(times)),
        "timed_images": len(times),
        "warmup_images": args.warmup,
        "setup_rss_mb": setup,
        "peak_rss_mb": _rss_mb(),
        "threads": args.threads or "default",
        "torch_threads": torch.get_num_threads(),
    }


def measure(model: str, checkpoint: Path, onnx: Path | None, size, backend: str, iters: int, warmup: int,
            device: str, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--backend", backend, "--checkpoint", str(checkpoint),
           "--size", str(size[0]), str(size[1]), "--iters", str(iters), "--warmup", str(warmup),
           "--device", device, "--threads", str(threads)]
    if onnx is not None:
        cmd += ["--onnx", str(onnx)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # other processes on the machine slow the run down: the 1-minute load average says how busy it was
    load = {"load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
    if done.returncode != 0:
        return {"model": model, "size": list(size), "backend": backend, "error": done.stderr.strip()[-2000:], **load}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"model": model, "size": list(size), "backend": backend, **result, **load}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrn38", action="store_true", help="also the WideResNet38 at 1024x2048")
    parser.add_argument("--iters", type=int, default=0, help="timed images per size (default: 10 small, 3 large)")
    parser.add_argument("--device", default="cpu", help="device of the PyTorch runs")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads of torch and onnxruntime (default 0: each library's default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predict.json"))
    # worker mode
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    import onnxruntime
    import torch

    from pebal.inference.onnx_export import OPSET, export_onnx
    from pebal.models import load_checkpoint

    plan = [("deeplabv3plus_small", (256, 512), args.iters or 10, 1),
            ("deeplabv3plus_small", (1024, 2048), args.iters or 3, 1)]
    if args.wrn38:
        plan.append(("deeplabv3plus_wrn38", (1024, 2048), 1, 0))
    rows, notes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        exported: dict[str, tuple[Path, Path]] = {}
        for model, size, iters, warmup in plan:
            if model not in exported:
                checkpoint, notes[model] = build_checkpoint(model, tmp)
                onnx_path = export_onnx(load_checkpoint(checkpoint), tmp / f"{model}.onnx")
                exported[model] = (checkpoint, onnx_path)
            checkpoint, onnx_path = exported[model]
            for backend in ("torch", "onnxruntime"):
                row = measure(model, checkpoint, onnx_path if backend == "onnxruntime" else None, size, backend,
                              iters, warmup, args.device, args.threads)
                row["command"] = ("python benchmarks/bench_predict.py" + (" --wrn38" if args.wrn38 else "")
                                  + (f" --threads {args.threads}" if args.threads else ""))
                row.setdefault("threads", args.threads or "default")
                row["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                rows.append(row)
                if "error" in row:
                    print(f"{model} {size} {backend}: FAILED\n{row['error']}", file=sys.stderr)
                else:
                    print(f"{model:22s} {size[0]:4d}x{size[1]:<4d} {backend:12s} threads {row['threads']!s:8s}"
                          f"{row['images_per_second']:7.3f} img/s  peak {row['peak_rss_mb']:7.0f} MB "
                          f"(+{row['peak_rss_mb'] - row['setup_rss_mb']:.0f} MB over setup)  load {row['load_average_after']:.1f}",
                          flush=True)
    # rows of an earlier run (e.g. the slow WideResNet38 ones) are kept unless measured again
    out = Path(args.out)
    keep = []
    if out.is_file():
        def key(r):
            return r["model"], tuple(r["size"]), r["backend"], r.get("threads", "default")

        earlier = json.loads(out.read_text())
        for r in earlier.get("rows", []):
            r.setdefault("threads", "default")  # rows written before --threads existed
        measured = {key(r) for r in rows}
        keep = [r for r in earlier.get("rows", []) if key(r) not in measured]
        notes = {**earlier.get("weights", {}), **notes}
    result = {
        "command": "python benchmarks/bench_predict.py [--wrn38] [--threads N]",
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__, "torch_device": args.device},
        "onnx_opset": OPSET,
        "weights": notes,
        "rows": keep + rows,
    }
    write_json(out, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
