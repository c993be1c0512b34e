"""How many threads to compute with, and how they wait: defaults that survive a shared machine.

Two things made a 2-core run several times slower as soon as another job shared the cores
(``benchmarks/bench_threads.py``, ``benchmarks/bench_demo_speed.py``):

* **Thread count.** PyTorch starts one OpenMP thread per CPU it sees, whatever the container's
  CPU quota: a process limited to 1 CPU on a 16-core host runs 16 threads that take turns.
  :func:`available_cores` is what the process may really use: its CPU affinity
  (``os.sched_getaffinity``) capped by the cgroup CPU quota (v2 ``cpu.max``, v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us``), rounded up.
* **Waiting.** GNU OpenMP threads spin (busy-wait) between parallel regions. When a core is
  taken by another process, the spinning thread burns the time slice its sibling needs to
  finish the region, so every region waits for the scheduler. ``OMP_WAIT_POLICY=PASSIVE``
  makes idle threads sleep instead; the arithmetic is unchanged (same thread count, same
  partition of the work), so results are bitwise the same.

:func:`configure_environment` sets both as *defaults* (a value the user exported wins); it
must run before ``torch`` is imported, because OpenMP reads its environment once, when the
library loads. The ``pebal`` command does it first thing. A library user who imports torch
first can still call :func:`configure_torch` for the thread count.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

#: Environment variables :func:`configure_environment` may set (only when absent).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(proc_cgroup: str | None = None, root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5), or None when unlimited.

    ``proc_cgroup``: the text of ``/proc/self/cgroup`` (read when None); ``root``: where the
    cgroup file systems are mounted. The tightest quota of the cgroup and its ancestors
    counts (a parent's limit binds its children). cgroup v2 (``cpu.max``: ``"max 100000"`` or
    ``"150000 100000"``) and v1 (``cpu.cfs_quota_us`` of -1 = unlimited) are both read.
    """
    if proc_cgroup is None:
        proc_cgroup = _read(Path("/proc/self/cgroup")) or ""
    root = Path(root)
    limits: list[float] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = Path(path.lstrip("/"))
        chain = [rel, *rel.parents]  # the cgroup itself, then each ancestor up to the root
        if controllers == "":  # cgroup v2 unified hierarchy
            for base in (root, root / "unified"):
                for cg in chain:
                    text = _read(base / cg / "cpu.max")
                    if text:
                        quota, _, period = text.partition(" ")
                        if quota != "max" and period:
                            limits.append(int(quota) / int(period))
        elif "cpu" in controllers.split(","):
            for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                for cg in chain:
                    quota_text = _read(root / name / cg / "cpu.cfs_quota_us")
                    period_text = _read(root / name / cg / "cpu.cfs_period_us")
                    if quota_text and period_text and int(quota_text) > 0:
                        limits.append(int(quota_text) / int(period_text))
    return min(limits) if limits else None


def available_cores(affinity: int | None = None, quota: float | None = None) -> int:
    """CPUs this process may use: the affinity mask's size, capped by the cgroup quota
    (rounded up: a quota of 1.5 CPUs runs 2 threads), at least 1.

    ``affinity`` / ``quota`` replace what is read from the system (for tests).
    """
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            affinity = os.cpu_count() or 1
    if quota is None:
        quota = cgroup_cpu_limit()
    cores = affinity if quota is None else min(affinity, math.ceil(quota - 1e-9))
    return max(1, int(cores))


def thread_defaults(environ: dict[str, str] | None = None, cores: int | None = None) -> dict[str, str]:
    """The variables :func:`configure_environment` would set: those of :data:`THREAD_VARIABLES`
    absent from ``environ`` (``os.environ`` when None)."""
    environ = os.environ if environ is None else environ
    wanted = {"OMP_NUM_THREADS": str(cores if cores is not None else available_cores()),
              "OMP_WAIT_POLICY": "PASSIVE"}
    return {k: v for k, v in wanted.items() if k not in environ}


def configure_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the thread defaults in ``environ`` (``os.environ``); returns what was set.

    Call before importing torch: OpenMP reads its environment once, when torch loads. If torch
    is already loaded, nothing is changed (the process that imported it chose its threads;
    :func:`configure_torch` sets the count explicitly) and an empty dict is returned.
    """
    environ = os.environ if environ is None else environ
    if "torch" in sys.modules and environ is os.environ:
        return {}
    added = thread_defaults(environ)
    environ.update(added)
    return added


def configure_torch(threads: int | None = None) -> int:
    """``torch.set_num_threads(threads or available_cores())``; returns the count."""
    import torch

    n = int(threads) if threads else available_cores()
    torch.set_num_threads(n)
    return n
