"""The fine-tuning loop: trains only the final block, resumes exactly, runs under two gloo processes."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import yaml
from safetensors.torch import load_file

from pebal.config import load_config
from pebal.models import load_checkpoint
from pebal.training.distributed import close_distributed
from pebal.training.finetune import STATE_FILE, finetune, poly_schedule


def _config(bench, ckpt, out, *extra):
    return load_config("embedded", overrides=[
        f"data.root={bench}", "data.size=[64,128]", f"checkpoint={ckpt}", f"out={out}",
        "optim.max_steps=4", "optim.batch_size=2", "optim.lr=1e-3", "checkpoint_every=2", "progress=false",
        "tensorboard=false", "threads=1", *extra,
    ])


def test_poly_schedule_ends_at_zero():
    f = poly_schedule(10, 0.9)
    assert f(0) == 1.0
    assert f(5) == pytest.approx(0.5**0.9)
    assert f(10) == 0.0 and f(12) == 0.0


def test_finetune_changes_only_the_final_block_and_saves_config(tiny_benchmark, untrained_checkpoint, tmp_path,
                                                                 capsys):
    cfg = _config(tiny_benchmark, untrained_checkpoint, tmp_path / "run")
    path = finetune(cfg, resume=True)  # --resume on a new folder: says so, then trains from step 0
    assert f"no saved training state in {tmp_path / 'run'}" in capsys.readouterr().out
    before = load_checkpoint(untrained_checkpoint, abstention_seed=cfg.seed)
    after = load_checkpoint(path)
    assert after.metadata["abstention"] and after.metadata["config"]["optim"]["lr"] == 1e-3
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["optim"]["max_steps"] == 4 and saved["data"]["root"] == str(tiny_benchmark)
    final_names = {f"final.{k}" for k in before.network.final.state_dict()}
    b, a = before.network.state_dict(), after.network.state_dict()
    for key in b:
        if key in final_names and b[key].is_floating_point() and "running" not in key:
            continue
        if key not in final_names:
            assert torch.equal(b[key], a[key]), f"{key} outside the final block changed"
    changed = [k for k in final_names if k.endswith("weight") and not torch.equal(b[k], a[k])]
    assert changed, "the final block did not train"


def test_resume_after_a_kill_reaches_the_same_weights(tiny_benchmark, untrained_checkpoint, tmp_path):
    full = finetune(_config(tiny_benchmark, untrained_checkpoint, tmp_path / "full"))
    cfg = _config(tiny_benchmark, untrained_checkpoint, tmp_path / "killed")
    assert not finetune(cfg, stop_after=3).exists()  # killed after step 3; last checkpoint at 2
    state = torch.load(tmp_path / "killed" / STATE_FILE, weights_only=True)
    assert state["step"] == 2
    resumed = finetune(cfg, resume=True)
    a, b = load_file(str(full)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, bench, ckpt, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = _config(bench, ckpt, out)
    finetune(cfg)
    import torch.distributed as dist

    # every rank must end with the same final block
    flat = torch.cat([p.detach().flatten() for p in _final_params(out, rank)])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    assert torch.equal(gathered[0], gathered[1])
    close_distributed()  # as `pebal train` ends: barrier, then destroy


def _final_params(out, rank):
    state = torch.load(os.path.join(out, STATE_FILE), weights_only=True) if rank == 0 else None
    import torch.distributed as dist

    obj = [state["final"] if state is not None else None]
    dist.broadcast_object_list(obj, src=0)
    return list(obj[0].values())


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_model(tiny_benchmark, untrained_checkpoint, tmp_path):
    out = str(tmp_path / "ddp")
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(tiny_benchmark), str(untrained_checkpoint), out),
                                nprocs=2, join=True)
    model = load_checkpoint(os.path.join(out, "model.safetensors"))
    assert model.metadata["steps"] == 4
    assert all(torch.isfinite(p).all() for p in model.final.parameters())
