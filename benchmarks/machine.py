"""Shared by the timing benchmarks: how busy the machine is, and a quiet share of it on demand.

On a Linux machine with ``sched_autogroup_enabled`` (the default on many distributions), the
scheduler first shares the CPUs between *sessions* (autogroups), then between the threads of
each session: niceness only orders the threads within a session. A benchmark started with
``setsid`` is its own session; ``--autogroup-nice -20`` then gives its processes (the measured
run and any competitor it starts, which stay equal rivals among themselves) about 95 % of the
CPU time that five other busy sessions would otherwise share with it: a stand-in for a quiet
machine on a shared one. The value used is recorded with the results.
"""

from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def autogroup_nice(value: int | None) -> dict:
    """Set this session's autogroup niceness (None: leave it); returns what is in force."""
    info: dict = {"session_leader": os.getsid(0) == os.getpid()}
    try:
        if value is not None:
            if not info["session_leader"]:
                raise SystemExit("--autogroup-nice: run the benchmark under `setsid` so that only its own "
                                 "processes get the priority")
            AUTOGROUP.write_text(str(int(value)))
        info["autogroup"] = AUTOGROUP.read_text().strip()
    except OSError as exc:
        info["autogroup"] = f"unavailable ({exc})"
        if value is not None:
            raise SystemExit(f"--autogroup-nice {value}: cannot write {AUTOGROUP}: {exc}")
    return info


def load() -> dict:
    """The 1-, 5- and 15-minute load averages and the number of CPUs."""
    one, five, fifteen = os.getloadavg()
    return {"load_1min": one, "load_5min": five, "load_15min": fifteen, "cpu_count": os.cpu_count()}
