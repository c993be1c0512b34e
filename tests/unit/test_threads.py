"""Thread defaults: the cores the process may use (affinity, cgroup quota) and a sleeping wait policy."""

from __future__ import annotations

import subprocess
import sys

from pebal.threads import available_cores, cgroup_cpu_limit, configure_environment, thread_defaults


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_is_read_and_the_tightest_ancestor_wins(tmp_path):
    _write(tmp_path / "a" / "b" / "cpu.max", "max 100000\n")  # the process's own cgroup: unlimited
    _write(tmp_path / "a" / "cpu.max", "150000 100000\n")  # its parent: 1.5 CPUs
    assert cgroup_cpu_limit("0::/a/b\n", tmp_path) == 1.5
    _write(tmp_path / "cpu.max", "50000 100000\n")
    assert cgroup_cpu_limit("0::/a/b\n", tmp_path) == 0.5
    assert cgroup_cpu_limit("0::/elsewhere\n", tmp_path / "none") is None


def test_cgroup_v1_quota_is_read(tmp_path):
    _write(tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "300000")
    _write(tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_period_us", "100000")
    text = "4:memory:/job\n3:cpu,cpuacct:/job\n0::/\n"
    assert cgroup_cpu_limit(text, tmp_path) == 3.0
    _write(tmp_path / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us", "-1")  # unlimited
    assert cgroup_cpu_limit(text, tmp_path) is None


def test_available_cores_is_the_affinity_capped_by_the_quota():
    assert available_cores(affinity=16, quota=None) == 16
    assert available_cores(affinity=16, quota=1.0) == 1
    assert available_cores(affinity=16, quota=1.5) == 2
    assert available_cores(affinity=2, quota=8.0) == 2
    assert available_cores(affinity=4, quota=0.2) == 1
    assert 1 <= available_cores() <= len(__import__("os").sched_getaffinity(0))


def test_user_settings_win():
    env = {"OMP_NUM_THREADS": "3"}
    assert thread_defaults(env, cores=2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert configure_environment(env) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "PASSIVE"}
    assert thread_defaults({"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}) == {}


def test_the_command_line_sets_them_before_torch_loads():
    code = ("import os, sys; from pebal.cli import main; main(['info']) ; import torch; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['OMP_NUM_THREADS'], torch.get_num_threads())")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    policy, threads, torch_threads = out.stdout.split()[-3:]
    assert policy == "PASSIVE" and int(threads) == available_cores() == int(torch_threads)
