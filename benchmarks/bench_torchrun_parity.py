"""How far ``torchrun`` training with 2 processes x batch B lands from one process with batch 2B.

For each case, one process trains with batch 2B and ``torchrun --nproc_per_node 2`` (gloo,
CPU) trains with batch B per process, from the same checkpoint, seed and data; the figure per
tensor of the final block (weights and batch-norm running statistics) is

    ratio = || two - one || / || one - before ||

(the distance between the two results relative to the whole training update). Cases: batch
norm synchronised across processes (the default) or per process (as before); the reference's
and the paper's loss, each with AnomalyMix on (the embedded preset, 50 % of images mixed) or
off. Without pasted outliers every process has as many valid pixels (the
embedded frames have no void), so the per-process loss means average to the global ones;
the reference's smoothness term is a sum over the batch, not a mean. Prints a table and
writes ``benchmarks/results/torchrun_parity.json``.

    python benchmarks/bench_torchrun_parity.py [--steps 4] [--batch 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from pebal.paths import shipped_weights

#: Run by each torchrun process: ``pebal train`` with per-process batch norm when asked.
_WORKER = """
import sys
if sys.argv[1] == "per-process":
    import pebal.training.finetune as finetune
    finetune.synchronise_batch_norm = lambda module: module
from pebal.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(args: list[str], processes: int, batch_norm: str, worker: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(worker), batch_norm, *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                   "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(worker), batch_norm, *args]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-4000:])
    return time.perf_counter() - started


def _final(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("final.") and v.is_floating_point()}


def _ratios(before: dict, one: dict, two: dict) -> dict[str, float]:
    out = {}
    for key in one:
        start = before[key]
        if start.shape != one[key].shape:  # the classifier gained the abstention channel (seeded alike)
            start = torch.cat([start, one[key][start.shape[0]:]])
        update = (one[key] - start).norm().item()
        out[key] = (two[key] - one[key]).norm().item() / max(update, 1e-30)
    return out


def main() -> None:
    from pebal.atomic import write_atomically
    from pebal.data.synthetic import ensure_benchmark
    from pebal.data.synthetic.cache import SynthCounts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4, help="per-process batch of the 2-process runs")
    parser.add_argument("--checkpoint", default=str(shipped_weights()))
    parser.add_argument("--json", default="benchmarks/results/torchrun_parity.json")
    parser.add_argument("--cases", nargs="+", default=["reference:0.5", "reference:0", "paper:0.5", "paper:0"],
                        help="LOSS_VARIANT:MIX_PROBABILITY pairs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides")
    args = parser.parse_args()

    load_before = os.getloadavg()
    before = {k: v for k, v in load_file(args.checkpoint).items() if k.startswith("final.") and v.is_floating_point()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        worker = tmp / "worker.py"
        worker.write_text(_WORKER)
        bench = tmp / "bench"
        ensure_benchmark(bench, seed=0, size=(64, 128),
                         counts=SynthCounts(train=4 * args.batch * args.steps, val=4, outlier_exposure=12, test=4))
        for case in args.cases:
            variant, mix = case.split(":")
            common = ["train", "--preset", "embedded", "--checkpoint", args.checkpoint,
                      "--set", f"data.root={bench}", "--set", "data.size=[64,128]", "--set", "data.max_images=null",
                      "--set", f"optim.max_steps={args.steps}", "--set", f"data.mix_probability={mix}",
                      "--set", f"loss.variant={variant}",
                      "--set", "loss.margins=fixed", "--set", "tensorboard=false", "--set", "progress=false",
                      *[a for pair in args.overrides for a in ("--set", pair)]]
            one_dir = tmp / f"one-{variant}-{mix}"
            seconds_one = _train([*common, "--out", str(one_dir), "--set", f"optim.batch_size={2 * args.batch}"],
                                 1, "synchronised", worker)
            one = _final(one_dir / "model.safetensors")
            for batch_norm in ("synchronised", "per-process"):
                two_dir = tmp / f"two-{variant}-{mix}-{batch_norm}"
                seconds_two = _train([*common, "--out", str(two_dir), "--set", f"optim.batch_size={args.batch}"],
                                     2, batch_norm, worker)
                ratios = _ratios(before, one, _final(two_dir / "model.safetensors"))
                worst = max(ratios, key=ratios.get)
                rows.append({"loss_variant": variant, "mix_probability": float(mix), "batch_norm": batch_norm,
                             "max_ratio": ratios[worst],
                             "worst_tensor": worst, "ratios": ratios, "seconds_one": seconds_one,
                             "seconds_two": seconds_two})
                print(f"{variant} loss, mix {mix}  {batch_norm:12s}  max ratio {ratios[worst]:.2e} ({worst})",
                      flush=True)

    print("\n| loss | AnomalyMix | batch norm | max over tensors of distance / update | tensor |")
    print("|---|---|---|---:|---|")
    for r in rows:
        print(f"| {r['loss_variant']} | {r['mix_probability']} | {r['batch_norm']} | {r['max_ratio']:.2e} | "
              f"{r['worst_tensor']} |")
    result = {"command": "python benchmarks/bench_torchrun_parity.py", "steps": args.steps,
              "overrides": args.overrides, "batch_per_process": args.batch, "processes": 2,
              "checkpoint": args.checkpoint, "torch": torch.__version__, "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows}
    write_atomically(args.json, lambda t: Path(t).write_text(json.dumps(result, indent=2) + "\n"))
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
