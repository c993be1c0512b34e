"""Two gloo processes on localhost give bit-for-bit the single-process numbers."""

import os
import pickle
import socket

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from pebal.metrics import AnomalyMetrics, ComponentMetrics


def data():
    rng = np.random.default_rng(11)
    lab = (rng.random((6, 20, 24)) < 0.06).astype(np.uint8)
    lab[:, 5:9, 5:11] = 1
    lab[rng.random((6, 20, 24)) < 0.05] = 255
    lab[3][lab[3] == 1] = 0  # an image without anomaly
    s = (rng.normal(size=(6, 20, 24)) + 2.0 * (lab == 1)).astype(np.float16).astype(np.float32)
    return s, lab


def evaluate(images, sync):
    s, lab = data()
    exact, binned = AnomalyMetrics(), AnomalyMetrics(mode="smiyc")
    comps = ComponentMetrics(1.0, track=None, min_gt_size=2, min_pred_size=2)
    for i in images:
        exact.update(s[i], lab[i])
        binned.update(s[i], lab[i])
        comps.update(s[i], lab[i])
    if 3 in images:  # one process also sees float64 scores: keys are widened everywhere
        exact.update(s[3].astype(np.float64), lab[3])
    return {"exact": exact.compute(sync=sync), "smiyc": binned.compute(sync=sync), "components": comps.compute(sync=sync)}


def worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        images = [0, 2, 4] if rank == 0 else [5, 3, 1]
        result = evaluate(images, sync=None)  # sync detected from the process group
        with open(os.path.join(out_dir, f"{rank}.pkl"), "wb") as f:
            pickle.dump(result, f)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two fresh interpreters import torch: ~10 s on a busy 2-core machine
def test_two_process_gloo_is_bit_for_bit(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    single = evaluate(list(range(6)), sync=False)
    for rank in range(2):
        with open(tmp_path / f"{rank}.pkl", "rb") as f:
            assert pickle.load(f) == single
