"""CPU inference against the machine's limit: FLOPs, measured peak throughput, each backend's share.

1. **FLOPs** of the small DeepLabv3+ and the WideResNet38 DeepLabv3+ (random weights, the real
   architecture, 20 output channels) at 256x512 and 1024x2048, counted by
   ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (2 FLOPs per multiply-add;
   only convolutions count: batch norm, ReLU and resizes are memory-bound and add < 1 %).
2. **The limit**: the best fp32 throughput this machine reaches on one large matrix product
   (``torch.mm``, MKL) and on a WideResNet38-sized 3x3 convolution (oneDNN, channels-last), with
   every usable core; bf16 the same where the CPU has native bf16 (``avx512_bf16`` / AMX).
3. **Backends**, network forward only (normalised image -> logits, batch 1, eval mode):
   ``baseline`` (PyTorch eager, the code of ``--baseline``: the commit before these changes,
   when WideResNet38 ran NCHW), ``eager`` (PyTorch eager, the current code: both networks
   channels-last), ``jit_freeze`` (``torch.jit.trace`` + ``freeze`` + ``optimize_for_inference``:
   oneDNN conv+BN+ReLU fusion), ``compile`` (``torch.compile``, inductor, freezing on),
   ``onnxruntime`` (``ORT_ENABLE_ALL`` graph optimisation) and ``bf16_autocast``. Each in its own
   subprocess (own peak memory; a crash or timeout stays there); one warm-up pass, then the best
   of ``--repeats``. Each row gives seconds per image (wall and process CPU), GFLOP/s, its
   fraction of the limit, and the max |logit difference| to fp32 eager relative to the largest
   |logit| (<= 1e-4 to count as the same result).

The machine may be shared: the 1-minute load average is recorded with every row, and CPU
seconds are reported next to wall seconds (a process that waits for a core accrues wall time,
not CPU time). A WideResNet38 1024x2048 row runs only for the backends named in
``--full-backends`` and is skipped when its 256x512 row predicts more than ``--max-cpu-seconds``.

    setsid python benchmarks/bench_cpu_limit.py --autogroup-nice -20   # everything (15-25 min quiet)
    python benchmarks/bench_cpu_limit.py --models deeplabv3plus_small --no-full

``--autogroup-nice N`` (run under ``setsid``) raises this benchmark's share of a machine that
other sessions keep busy, a stand-in for a quiet machine (see ``benchmarks/machine.py``); the
value and the load averages are recorded.

Writes ``benchmarks/results/cpu_limit.json``.
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

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("deeplabv3plus_small", "deeplabv3plus_wrn38")
SIZES = ((256, 512), (1024, 2048))
BACKENDS = ("baseline", "eager", "jit_freeze", "compile", "onnxruntime", "bf16_autocast")
#: The last commit before the issue-16 changes (WideResNet38 then ran NCHW).
BASELINE = "ac60035"
TOLERANCE = 1e-4


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16() -> bool:
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def count_flops(name: str, size: tuple[int, int]) -> int:
    """Convolution FLOPs of one forward pass at ``size`` (meta device: nothing is computed)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pebal.models import create_model

    if name == "deeplabv3plus_wrn38":  # built without allocating its 137M parameters
        model = create_model(name, num_classes=20, device="meta").eval()
    else:
        model = create_model(name, num_classes=20).to("meta").eval()
    x = torch.empty(1, 3, *size, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def _best(fn, seconds: float = 3.0, at_least: int = 3) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that call) over repeated calls for ~``seconds``."""
    fn()
    best, best_cpu, start, n = float("inf"), 0.0, time.perf_counter(), 0
    while n < at_least or time.perf_counter() - start < seconds:
        c, t = time.process_time(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        if wall < best:
            best, best_cpu = wall, cpu
        n += 1
    return best, best_cpu


def measure_peak() -> dict:
    """fp32 (and native bf16) GFLOP/s of a large matrix product and of a 3x3 convolution."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    rows = {}
    for n in (2048, 4096):
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        wall, cpu = _best(lambda: torch.mm(a, b))
        rows[f"matmul_fp32_{n}"] = {"flops": 2 * n**3, "seconds": wall, "cpu_seconds": cpu}
    # mod4 of WideResNet38 at 256x512: 512 -> 512 channels, 3x3, on a 32x64 map
    x = torch.randn(1, 512, 32, 64, generator=g)
    w = torch.randn(512, 512, 3, 3, generator=g)
    flops = 2 * 512 * 512 * 9 * 32 * 64
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        xl, wl = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
        with torch.no_grad():
            wall, cpu = _best(lambda: F.conv2d(xl, wl, padding=1))
        rows[f"conv3x3_fp32_{layout}"] = {"flops": flops, "seconds": wall, "cpu_seconds": cpu}
    if native_bf16():
        a, b = torch.randn(4096, 4096, generator=g).bfloat16(), torch.randn(4096, 4096, generator=g).bfloat16()
        wall, cpu = _best(lambda: torch.mm(a, b))
        rows["matmul_bf16_4096"] = {"flops": 2 * 4096**3, "seconds": wall, "cpu_seconds": cpu}
    for row in rows.values():
        row["gflops"] = row["flops"] / row["seconds"] / 1e9
        row["gflops_per_cpu_second"] = row["flops"] / max(row["cpu_seconds"], 1e-9) / 1e9
    fp32 = {k: v for k, v in rows.items() if "fp32" in k}
    best = max(fp32, key=lambda k: fp32[k]["gflops"])
    return {"threads": torch.get_num_threads(), "rows": rows, "limit_fp32": best,
            "limit_fp32_gflops": fp32[best]["gflops"],
            "limit_fp32_gflops_per_cpu_second": max(v["gflops_per_cpu_second"] for v in fp32.values()),
            "native_bf16": native_bf16()}


def _build(name: str):
    import torch

    from pebal.models import create_model

    return create_model(name, num_classes=20, generator=torch.Generator().manual_seed(0)).eval()


def _runner(backend: str, model, x, workdir: Path):
    """A callable ``run(images) -> logits`` for ``backend``, set up for inputs like ``x``."""
    import torch

    if backend in ("eager", "baseline"):
        return model
    if backend == "jit_freeze":
        model = model.to(memory_format=torch.channels_last)
        traced = torch.jit.trace(model, x.contiguous(memory_format=torch.channels_last), check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        return lambda images: frozen(images.contiguous(memory_format=torch.channels_last))
    if backend == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(model.to(memory_format=torch.channels_last), dynamic=False)
        return lambda images: compiled(images.contiguous(memory_format=torch.channels_last))
    if backend == "bf16_autocast":
        def run(images):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(images).float()
        return run
    if backend == "onnxruntime":
        import warnings

        import onnxruntime as ort

        path = workdir / "model.onnx"
        small = x[..., : min(x.shape[-2], 64), : min(x.shape[-1], 128)].contiguous()
        axes = {2: "height", 3: "width"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # traced on a small crop with dynamic sides: no full-size pass just to export
            torch.onnx.export(model, (small,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": axes, "logits": axes})
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return lambda images: torch.from_numpy(session.run(["logits"], {"x": images.numpy()})[0])
    raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")


def measure_backend(name: str, size: tuple[int, int], backend: str, repeats: int, compare: bool = True) -> dict:
    """Inside the subprocess: set up ``backend``, one warm-up pass, best of ``repeats``.

    ``compare``: also run fp32 eager once for the difference, and warm up at the measured size;
    without it (the costliest rows, whose backends are compared at the smaller size) the
    warm-up of a shape-agnostic backend (eager, onnxruntime) runs at 256x512.
    """
    import torch

    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, *size, generator=g)
    warm = x if compare or backend in ("jit_freeze", "compile") else x[..., :256, :512].contiguous()
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        model = _build(name)
        reference = model(x).float() if compare and backend not in ("eager", "baseline") else None
        started = time.perf_counter()
        run = _runner(backend, model, x, Path(tmp))
        out = run(warm)  # warm-up (compiles, packs weights)
        setup = time.perf_counter() - started
        times = []
        for _ in range(repeats):
            c, t = time.process_time(), time.perf_counter()
            out = run(x)
            times.append((time.perf_counter() - t, time.process_time() - c))
        diff = None
        if compare:
            reference = out.float() if reference is None else reference
            diff = float((out.float() - reference).abs().max() / reference.abs().max().clamp_min(1e-12))
        wall, cpu = min(times)
    return {"seconds": wall, "cpu_seconds": cpu, "all_seconds": [t[0] for t in times], "setup_seconds": setup,
            "relative_max_diff": diff, "within_tolerance": None if diff is None else diff <= TOLERANCE,
            "threads": torch.get_num_threads(), "pebal": str(Path(sys.modules["pebal"].__file__).parent),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def _child(args: list[str], timeout: float, pythonpath: Path | None = None) -> dict:
    from pebal.threads import thread_defaults

    env = dict(os.environ)
    env.update(thread_defaults(env))
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    load = os.getloadavg()[0]
    try:
        done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "load_average_before": load}
    extra = {"load_average_before": load, "load_average_after": os.getloadavg()[0]}
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-1500:], **extra}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--baseline", default=BASELINE, help="git commit of the old code")
    parser.add_argument("--full-backends", nargs="+", default=["baseline", "eager", "onnxruntime"],
                        help="backends measured on the WideResNet38 at 1024x2048 too")
    parser.add_argument("--no-full", action="store_true", help="skip every WideResNet38 1024x2048 row")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile-wrn38", action="store_true", help="also torch.compile the WideResNet38 "
                        "(minutes of compilation)")
    parser.add_argument("--max-cpu-seconds", type=float, default=600.0,
                        help="skip a WideResNet38 full-size row predicted to need more CPU time than this")
    parser.add_argument("--timeout", type=float, default=1200.0, help="wall-clock limit of one measurement")
    parser.add_argument("--autogroup-nice", type=int, default=None, help="see benchmarks/machine.py")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cpu_limit.json"))
    parser.add_argument("--child", nargs=4, metavar=("WHAT", "MODEL", "SIZE", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--no-compare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        what, model, size, backend = args.child
        hw = tuple(int(v) for v in size.split("x"))
        result = measure_peak() if what == "peak" else (
            {"flops": count_flops(model, hw)} if what == "flops" else measure_backend(model, hw, backend, args.repeats, not args.no_compare))
        print(json.dumps(result))
        return 0

    import torch

    from machine import autogroup_nice, load

    from pebal.evaluation.report import write_json
    from pebal.threads import available_cores

    priority = autogroup_nice(args.autogroup_nice)
    workdir = tempfile.TemporaryDirectory()
    baseline_src = None
    if "baseline" in args.backends:
        from bench_demo_speed import export_tree

        baseline_src = export_tree(args.baseline, Path(workdir.name))
    peak = _child(["--child", "peak", "-", "0x0", "-"], args.timeout)
    if "error" in peak:
        raise SystemExit(f"peak measurement failed: {peak['error']}")
    limit = peak["limit_fp32_gflops"]
    print(f"limit (fp32, {peak['threads']} threads): {limit:.1f} GFLOP/s ({peak['limit_fp32']}); "
          f"native bf16: {peak['native_bf16']}", flush=True)
    flops = {m: {f"{h}x{w}": _child(["--child", "flops", m, f"{h}x{w}", "-"], args.timeout)["flops"]
                 for h, w in SIZES} for m in args.models}
    rows = []
    for model in args.models:
        for h, w in SIZES:
            key = f"{h}x{w}"
            full = model == "deeplabv3plus_wrn38" and (h, w) == (1024, 2048)
            for backend in args.backends:
                if full and (args.no_full or backend not in args.full_backends):
                    continue
                if backend == "compile" and model == "deeplabv3plus_wrn38" and not args.compile_wrn38:
                    rows.append({"model": model, "size": key, "backend": backend,
                                 "skipped": "inductor compilation of the 137M-parameter network: --compile-wrn38"})
                    continue
                if backend == "bf16_autocast" and not peak["native_bf16"] and (model == "deeplabv3plus_wrn38"
                                                                               or key != "256x512"):
                    rows.append({"model": model, "size": key, "backend": backend,
                                 "skipped": "no native bf16 on this CPU (no avx512_bf16 / amx_bf16): emulated"})
                    continue
                if full:
                    small = next((r for r in rows if r["model"] == model and r["size"] == "256x512"
                                  and r["backend"] == backend and "cpu_seconds" in r), None)
                    predicted = small["cpu_seconds"] * flops[model][key] / flops[model]["256x512"] if small else None
                    if predicted is None or predicted * (args.repeats + 1) > args.max_cpu_seconds * 2:
                        repeats = 1
                    else:
                        repeats = args.repeats
                    if predicted is not None and predicted > args.max_cpu_seconds:
                        rows.append({"model": model, "size": key, "backend": backend,
                                     "skipped": f"predicted {predicted:.0f} CPU s per pass > {args.max_cpu_seconds:.0f}"})
                        continue
                else:
                    repeats = args.repeats
                row = {"model": model, "size": key, "backend": backend, "flops": flops[model][key],
                       **_child(["--child", "run", model, key, backend, "--repeats", str(repeats),
                                 *(["--no-compare"] if full else [])], args.timeout,
                                baseline_src if backend == "baseline" else None)}
                if "seconds" in row:
                    row["gflops"] = row["flops"] / row["seconds"] / 1e9
                    row["fraction_of_limit"] = row["gflops"] / limit
                    row["gflops_per_cpu_second"] = row["flops"] / row["cpu_seconds"] / 1e9
                    row["cpu_fraction_of_limit"] = row["gflops_per_cpu_second"] / peak["limit_fp32_gflops_per_cpu_second"]
                    print(f"{model:22s} {key:>9s} {backend:14s} {row['seconds']:8.3f} s  {row['gflops']:6.1f} GFLOP/s "
                          f"{100 * row['fraction_of_limit']:5.1f} % of limit  (CPU-time basis "
                          f"{100 * row['cpu_fraction_of_limit']:5.1f} %)  diff {row['relative_max_diff'] or 0:.1e}  "
                          f"load {row['load_average_after']:.1f}", flush=True)
                else:
                    print(f"{model:22s} {key:>9s} {backend:14s} {row.get('error', '')[-300:]}", flush=True)
                rows.append(row)
    result = {
        "benchmark": "CPU inference against the machine's measured throughput limit",
        "command": "python benchmarks/bench_cpu_limit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "usable_cores": available_cores(), "cpu_flags_simd": sorted(f for f in cpu_flags()
                                                                             if f.startswith(("avx", "amx", "fma"))),
                    "python": platform.python_version(), "torch": torch.__version__},
        "baseline": args.baseline, "priority": priority, "load_at_end": load(), "tolerance": TOLERANCE, "peak": peak, "flops": flops, "rows": rows,
    }
    write_json(Path(args.out), result)
    workdir.cleanup()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
