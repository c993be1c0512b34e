"""The batch-norm-only control (learning rate 0): forward only, and alongside the PEBAL run,
with the weights and statistics of the old separate backward + Adam run, bitwise."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from pebal.config import load_config
from pebal.training import finetune as finetune_module
from pebal.training.finetune import finetune


def _config(bench, ckpt, out):
    return load_config("embedded", overrides=[
        f"data.root={bench}", "data.size=[64,128]", f"checkpoint={ckpt}", f"out={out}", "optim.max_steps=3",
        "optim.batch_size=2", "optim.lr=0", "progress=false", "tensorboard=false", "threads=1",
    ])


def test_learning_rate_zero_skips_backward_with_identical_results(tiny_benchmark, untrained_checkpoint, tmp_path,
                                                                   monkeypatch):
    fast = load_file(str(finetune(_config(tiny_benchmark, untrained_checkpoint, tmp_path / "fast"))))
    calls = []
    original = torch.Tensor.backward
    monkeypatch.setattr(finetune_module, "_updates_weights", lambda cfg: True)  # the old path: backward + Adam(lr 0)
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *a, **k: (calls.append(1), original(self, *a, **k)))
    full = load_file(str(finetune(_config(tiny_benchmark, untrained_checkpoint, tmp_path / "full"))))
    assert len(calls) == 3, "the reference path must really run backward"
    assert fast.keys() == full.keys()
    for key in fast:
        assert torch.equal(fast[key], full[key]), key
    # the statistics did move (the control is not a copy of the pretrained model)
    pretrained = load_file(str(untrained_checkpoint))
    assert not torch.equal(fast["final.1.running_mean"], pretrained["final.1.running_mean"])
    assert int(fast["final.1.num_batches_tracked"]) == 3


@pytest.mark.parametrize("frozen_train_mode", [False, True])
def test_control_alongside_pebal_equals_the_separate_run(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch,
                                                          frozen_train_mode):
    from pebal.evaluation.bn_control import finetune_with_control
    from pebal.evaluation.demo import bn_control_config

    def config(out):
        return load_config("embedded", overrides=[
            f"data.root={tiny_benchmark}", "data.size=[64,128]", f"checkpoint={untrained_checkpoint}", f"out={out}",
            "optim.max_steps=4", "optim.batch_size=2", "optim.lr=1e-3", "progress=false", "tensorboard=false",
            "threads=1", f"frozen_train_mode={str(frozen_train_mode).lower()}"])

    cfg = config(tmp_path / "new" / "finetune")
    pebal_new, control_new, seconds = finetune_with_control(cfg, bn_control_config(cfg, tmp_path / "new" / "c", 3), 3)
    assert seconds > 0 and (tmp_path / "new" / "c" / "config.yaml").is_file()

    # the old demo: PEBAL, then its own control run (backward + Adam at lr 0, margins derived again)
    monkeypatch.setattr(finetune_module, "_updates_weights", lambda cfg: True)
    old_cfg = config(tmp_path / "old" / "finetune")
    pebal_old = finetune(old_cfg)
    control_old = finetune(bn_control_config(old_cfg, tmp_path / "old" / "c", 3))

    for new, old in ((pebal_new, pebal_old), (control_new, control_old)):
        a, b = load_file(str(new)), load_file(str(old))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (new, key)
    from pebal.models.checkpoint import read_metadata

    new_meta, old_meta = read_metadata(control_new), read_metadata(control_old)
    assert new_meta["margins"] == old_meta["margins"] == read_metadata(pebal_new)["margins"]
    assert new_meta["steps"] == old_meta["steps"] == 3
    drifted = [k for k, v in load_file(str(control_new)).items() if not k.startswith("final.")
               and not torch.equal(v, load_file(str(untrained_checkpoint)).get(k, v))]
    assert bool(drifted) == frozen_train_mode  # trunk statistics move only in train mode


def test_a_control_longer_than_the_run_runs_on_its_own(tiny_benchmark, untrained_checkpoint, tmp_path):
    from pebal.evaluation.bn_control import finetune_with_control
    from pebal.evaluation.demo import bn_control_config

    cfg = load_config("embedded", overrides=[
        f"data.root={tiny_benchmark}", "data.size=[64,128]", f"checkpoint={untrained_checkpoint}",
        f"out={tmp_path / 'f'}", "optim.max_steps=2", "optim.batch_size=2", "progress=false", "tensorboard=false",
        "threads=1"])
    _, control, seconds = finetune_with_control(cfg, bn_control_config(cfg, tmp_path / "c", 3), 3)
    assert seconds == 0.0 and (tmp_path / "c" / "train_state.pt").is_file()
    assert int(load_file(str(control))["final.1.num_batches_tracked"]) == 3
