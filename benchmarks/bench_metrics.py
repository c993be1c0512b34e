"""Exact pixel metrics: speed and memory of pebal now, pebal before (git ac60035) and scikit-learn.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py [--sizes 2e7 1e8] [--sklearn-max 2e7]
        [--old-ref ac60035] [--energy-images 50]

One run measures every implementation side by side, one core each:

* ``sklearn``: ``roc_auc_score`` + ``average_precision_score`` + ``roc_curve(...,
  drop_intermediate=False)`` on the evaluated pixels, already masked and flattened (not timed);
* ``new pixel_metrics`` / ``new AnomalyMetrics`` (one ``update`` per image, then ``compute``):
  this checkout; the compiled loops are compiled (or loaded from numba's cache) before timing;
* ``old pixel_metrics`` / ``old AnomalyMetrics``: the implementation at ``--old-ref``, exported
  with ``git archive`` into a temporary folder and run in a child process that imports it from
  there (so both versions see the same arrays, generated from the same seed, in one run).

Data: (N, 1000, 2000) float32 maps (N = pixels / 2e6), 2 % anomaly, 3 % void, inlier scores
N(0, 1), anomaly N(2, 1), 30 % of the pixels rounded to float16 (ties), seeded: the worst case
for memory locality (neighbouring pixels are unrelated). Second part, ``energy``: real-looking
maps (19 logits from Gaussian-blurred noise, energy = -logsumexp, anomaly blobs with raised
energy, float32) streamed through ``AnomalyMetrics``: bytes per pixel of the exact state as the
pixel count grows, and throughput.

Time is process CPU time (what does not depend on other jobs sharing the machine) and wall
time; memory is the peak resident-set increase sampled every 5 ms and, for the streaming
state, ``AnomalyMetrics.state_bytes()`` (old: 4 bytes per evaluated pixel of keys). The load
average is recorded. Prints tables, writes ``benchmarks/results/metrics.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

W = 2000
ROOT = Path(__file__).resolve().parent.parent


def make_arrays(pixels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = max(1, round(pixels / (1000 * W)))
    h = pixels // (n * W)
    rng = np.random.default_rng(seed)
    scores = np.empty((n, h, W), np.float32)
    labels = np.empty((n, h, W), np.uint8)
    for i in range(n):
        u = rng.random((h, W), dtype=np.float32)
        lab = (u < 0.02).astype(np.uint8)
        lab[u > 0.97] = 255
        x = rng.standard_normal((h, W), dtype=np.float32)
        x += 2.0 * (lab == 1)
        tie = rng.random((h, W), dtype=np.float32) < 0.3
        x[tie] = x[tie].astype(np.float16)
        scores[i], labels[i] = x, lab
    return scores, labels


def energy_map(rng: np.random.Generator, h: int = 1000, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    """A real-looking (H, W) float32 energy map and its labels (smooth, anomaly blobs, void)."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal((19, h // 8, w // 8)).astype(np.float32), (0, 3, 3))
    field = ndimage.zoom(field, (1, 8, 8), order=1)
    field *= (2.5 / field.std(axis=(1, 2), keepdims=True)).astype(np.float32)
    field[0] += 4.0  # a dominant class, as a trained model has
    lab = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 4)):
        y, x, r = rng.integers(0, h), rng.integers(0, w), rng.integers(10, 60)
        yy, xx = np.ogrid[:h, :w]
        blob = (yy - y) ** 2 + (xx - x) ** 2 < r * r
        lab[blob] = 1
        field[:, blob] *= 0.3  # flat logits: high energy
    lab[: h // 10] = 255  # sky / ego vehicle: void
    top = field.max(0)
    energy = -(top + np.log(np.exp(field - top).sum(0)))
    return energy.astype(np.float32), lab


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Peak resident-set increase while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.increase = self.peak - self.base


def run_sklearn(scores, labels):
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    m = labels != 255
    y, x = (labels[m] == 1), scores[m]
    auroc = roc_auc_score(y, x)
    ap = average_precision_score(y, x)
    fpr, tpr, _ = roc_curve(y, x, drop_intermediate=False)
    return {"auroc": auroc, "ap": ap, "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}, None


def run_pixel_metrics(scores, labels):
    from pebal.metrics import pixel_metrics

    return pixel_metrics(scores, labels), None


def run_stream(scores, labels):
    from pebal.metrics import AnomalyMetrics

    m = AnomalyMetrics()
    for i in range(scores.shape[0]):
        m.update(scores[i], labels[i])
    state = m.state_bytes() if hasattr(m, "state_bytes") else 4 * (m.num_positive + m.num_negative)
    return m.compute(), state


RUNS = {"sklearn": run_sklearn, "pixel_metrics": run_pixel_metrics, "AnomalyMetrics": run_stream}


def measure(name: str, scores, labels) -> dict:
    with RssPeak() as rss:
        wall, cpu = time.perf_counter(), time.process_time()
        result, state = RUNS[name](scores, labels)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    px = scores.size
    row = {"wall_s": wall, "cpu_s": cpu, "mpx_per_cpu_s": px / cpu / 1e6, "rss_increase_mb": rss.increase / 2**20,
           "result": {k: float(result[k]) for k in ("auroc", "ap", "fpr95")}}
    if state is not None:
        row["state_bytes_per_pixel"] = state / px
    return row


def warm_up() -> None:
    """Compile (or load from cache) the compiled loops outside the timed runs."""
    s, lab = make_arrays(200_000, seed=1)
    run_pixel_metrics(s, lab)
    run_stream(s, lab)


def worker(args) -> int:
    """Child process: measure the implementation importable as ``pebal`` (the old tree)."""
    warm_up()
    scores, labels = make_arrays(int(args.worker_size))
    rows = {name: measure(name, scores, labels) for name in ("pixel_metrics", "AnomalyMetrics")}
    import pebal

    print(json.dumps({"pebal": str(Path(pebal.__file__).parent), "rows": rows}))
    return 0


def old_rows(old_src: Path, size: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(old_src))
    out = subprocess.run([sys.executable, __file__, "--worker-size", str(size)], env=env, cwd=str(old_src),
                         check=True, capture_output=True, text=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(found["pebal"]).resolve().is_relative_to(old_src.resolve()), found["pebal"]
    return found["rows"]


def export_old(ref: str, into: Path) -> Path:
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return into / "src"


def energy_stream(images: int, checkpoints: list[int]) -> dict:
    """Stream real-looking energy maps through AnomalyMetrics; state bytes / pixel over time."""
    from pebal.metrics import AnomalyMetrics

    rng = np.random.default_rng(0)
    m = AnomalyMetrics()
    points, cpu, pixels = [], 0.0, 0
    for i in range(1, images + 1):
        e, lab = energy_map(rng)
        t = time.process_time()
        m.update(e, lab)
        cpu += time.process_time() - t
        pixels += e.size
        if i in checkpoints or i == images:
            points.append({"images": i, "pixels": pixels, "state_mb": m.state_bytes() / 2**20,
                           "state_bytes_per_pixel": m.state_bytes() / pixels, "old_bytes_per_pixel": 4.0})
    t = time.process_time()
    r = m.compute()
    cpu += time.process_time() - t
    return {"points": points, "cpu_s": cpu, "mpx_per_cpu_s": pixels / cpu / 1e6,
            "result": {k: r[k] for k in ("auroc", "ap", "fpr95")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[2e7, 1e8], help="pixels per run")
    ap.add_argument("--sklearn-max", type=float, default=2e7, help="run scikit-learn up to this many pixels")
    ap.add_argument("--old-ref", default="ac60035", help="git revision of the previous implementation")
    ap.add_argument("--energy-images", type=int, default=50, help="real-looking 1000x2000 maps to stream")
    ap.add_argument("--worker-size", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "metrics.json"))
    args = ap.parse_args(argv)
    if args.worker_size:
        return worker(args)
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    warm_up()
    runs = []
    hdr = f"{'pixels':>9} {'implementation':<20} {'wall s':>7} {'cpu s':>7} {'Mpx/s':>7} {'RSS MB':>7} {'state B/px':>10} {'|dAUROC|':>9} {'|dAP|':>9} {'|dFPR95|':>9}"
    print(hdr)
    with tempfile.TemporaryDirectory() as tmp:
        old_src = export_old(args.old_ref, Path(tmp))
        for size in args.sizes:
            scores, labels = make_arrays(int(size))
            rows = {}
            if scores.size <= args.sklearn_max:
                rows["sklearn"] = measure("sklearn", scores, labels)
            for name, row in old_rows(old_src, int(size)).items():
                rows[f"old {name}"] = row
            for name in ("pixel_metrics", "AnomalyMetrics"):
                rows[f"new {name}"] = measure(name, scores, labels)
            ref = rows.get("sklearn", rows["old pixel_metrics"])
            for name, row in rows.items():
                row["abs_diff_vs_" + ("sklearn" if "sklearn" in rows else "old")] = d = {
                    k: abs(row["result"][k] - ref["result"][k]) for k in ("auroc", "ap", "fpr95")}
                st = row.get("state_bytes_per_pixel")
                print(f"{scores.size:9.2e} {name:<20} {row['wall_s']:7.2f} {row['cpu_s']:7.2f} {row['mpx_per_cpu_s']:7.1f} "
                      f"{row['rss_increase_mb']:7.0f} {'-' if st is None else f'{st:.2f}':>10} "
                      f"{d['auroc']:9.1e} {d['ap']:9.1e} {d['fpr95']:9.1e}")
            runs.append({"pixels": int(scores.size), "rows": rows, "sklearn_skipped": "sklearn" not in rows})
            del scores, labels
    energy = None
    if args.energy_images:
        checkpoints = sorted({max(1, args.energy_images // 10), max(1, args.energy_images // 2)})
        energy = energy_stream(args.energy_images, checkpoints)
        print(f"\nreal-looking float32 energy maps (1000x2000), AnomalyMetrics: {energy['mpx_per_cpu_s']:.1f} Mpx per CPU s")
        print(f"{'images':>7} {'pixels':>9} {'state MB':>9} {'B/px new':>9} {'B/px old':>9}")
        for p in energy["points"]:
            print(f"{p['images']:7d} {p['pixels']:9.2e} {p['state_mb']:9.1f} {p['state_bytes_per_pixel']:9.3f} {p['old_bytes_per_pixel']:9.1f}")
    import numba

    from pebal.atomic import write_atomically

    meta = {"command": "OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py " + " ".join(sys.argv[1:]),
            "old_ref": args.old_ref, "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": os.getloadavg()}
    payload = json.dumps({"meta": meta, "runs": runs, "energy_stream": energy}, indent=2) + "\n"
    write_atomically(args.out, lambda tmp: Path(tmp).write_text(payload))
    print(f"load average before {load_before}, after {meta['load_average_after']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
