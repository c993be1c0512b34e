"""Pixel-metric speed and memory: scikit-learn's three calls vs pebal's exact metrics.

    OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py [--sizes 2e7 1e8] [--sklearn-max 2e7]

Synthetic arrays, the same for every implementation: (N, 1000, 2000)-shaped float32 score maps
(N = pixels / 2e6), 2% anomaly pixels, 3% void (255), inlier scores ~ N(0, 1), anomaly scores
~ N(2, 1), 30% of the pixels rounded to float16 (ties), from a seeded generator.

Rows:

* ``sklearn``: ``roc_auc_score`` + ``average_precision_score`` + ``roc_curve(...,
  drop_intermediate=False)`` (what the reference PEBAL evaluation calls), on the evaluated pixels
  already masked and flattened (masking not timed: sklearn's best case);
* ``pebal pixel_metrics``: the pure function on the (N, H, W) arrays, two passes, validation
  included;
* ``pebal AnomalyMetrics``: one ``update`` per image, then ``compute``.

Time is wall-clock and process CPU time (CPU is the figure that does not depend on other
processes sharing the machine), one thread. Memory is the peak of numpy allocations above the
inputs (``tracemalloc``, in a separate run) and the peak RSS increase sampled every 5 ms.
Prints a table and writes ``benchmarks/results/metrics.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pebal.metrics import AnomalyMetrics, pixel_metrics  # noqa: E402

W = 2000


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


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Peak resident-set increase while the block runs (sampled)."""

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
    wall, cpu = time.perf_counter(), time.process_time()
    auroc = roc_auc_score(y, x)
    ap = average_precision_score(y, x)
    fpr, tpr, _ = roc_curve(y, x, drop_intermediate=False)
    fpr95 = float(fpr[np.argmax(tpr >= 0.95)])
    return time.perf_counter() - wall, time.process_time() - cpu, {"auroc": auroc, "ap": ap, "fpr95": fpr95}


def run_pixel_metrics(scores, labels):
    wall, cpu = time.perf_counter(), time.process_time()
    r = pixel_metrics(scores, labels)
    return time.perf_counter() - wall, time.process_time() - cpu, r


def run_stream(scores, labels):
    wall, cpu = time.perf_counter(), time.process_time()
    m = AnomalyMetrics()
    for i in range(scores.shape[0]):
        m.update(scores[i], labels[i])
    r = m.compute()
    return time.perf_counter() - wall, time.process_time() - cpu, r


def measure(fn, scores, labels, memory: bool) -> dict:
    with RssPeak() as rss:
        wall, cpu, result = fn(scores, labels)
    row = {"wall_s": wall, "cpu_s": cpu, "rss_increase_mb": rss.increase / 2**20,
           "result": {k: result[k] for k in ("auroc", "ap", "fpr95")}}
    if memory:
        tracemalloc.start()
        fn(scores, labels)
        row["numpy_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[2e7, 1e8], help="pixels per run")
    ap.add_argument("--sklearn-max", type=float, default=2e7, help="run scikit-learn up to this many pixels")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "metrics.json"))
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    runs = []
    print(f"{'pixels':>9} {'implementation':<24} {'wall s':>8} {'cpu s':>8} {'numpy MB':>9} {'RSS MB':>8} "
          f"{'|dAUROC|':>9} {'|dAP|':>9} {'|dFPR95|':>9} {'speed-up':>8}")
    for size in args.sizes:
        scores, labels = make_arrays(int(size))
        px = scores.size
        rows = {}
        if px <= args.sklearn_max:
            rows["sklearn"] = measure(run_sklearn, scores, labels, memory=not args.no_memory)
        rows["pebal pixel_metrics"] = measure(run_pixel_metrics, scores, labels, memory=not args.no_memory)
        rows["pebal AnomalyMetrics"] = measure(run_stream, scores, labels, memory=not args.no_memory)
        ref = rows.get("sklearn")
        for name, row in rows.items():
            if ref is not None:
                row["abs_diff_vs_sklearn"] = {k: abs(row["result"][k] - ref["result"][k]) for k in ("auroc", "ap", "fpr95")}
                row["speedup_cpu_vs_sklearn"] = ref["cpu_s"] / row["cpu_s"]
            d = row.get("abs_diff_vs_sklearn", {})
            fmt = lambda v: f"{v:9.1e}" if v is not None else f"{'-':>9}"  # noqa: E731
            print(f"{px:9.2e} {name:<24} {row['wall_s']:8.2f} {row['cpu_s']:8.2f} "
                  f"{row.get('numpy_peak_mb', float('nan')):9.0f} {row['rss_increase_mb']:8.0f} "
                  f"{fmt(d.get('auroc'))} {fmt(d.get('ap'))} {fmt(d.get('fpr95'))} "
                  f"{row.get('speedup_cpu_vs_sklearn', float('nan')):8.1f}")
        runs.append({"pixels": px, "input_mb": (scores.nbytes + labels.nbytes) / 2**20, "rows": rows,
                     "sklearn_skipped": ref is None})
        del scores, labels

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": "OMP_NUM_THREADS=1 python benchmarks/bench_metrics.py " + " ".join(sys.argv[1:]),
            "python": platform.python_version(), "numpy": np.__version__, "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
