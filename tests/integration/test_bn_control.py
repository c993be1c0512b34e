"""The batch-norm-only control (learning rate 0) runs forward only, with the weights and
statistics of the full backward + Adam path, bitwise; the demo's control reuses PEBAL's margins."""

from __future__ import annotations

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


def test_control_config_fixes_the_pebal_margins(tmp_path):
    from pebal.evaluation.demo import bn_control_config

    cfg = load_config("embedded", overrides=[])
    assert cfg.loss.margins == "auto"
    control = bn_control_config(cfg, tmp_path / "c", 7, {"m_in": -8.25, "m_out": -3.5})
    assert (control.optim.lr, control.optim.max_steps, control.out) == (0.0, 7, str(tmp_path / "c"))
    assert (control.loss.margins, control.loss.m_in, control.loss.m_out) == ("fixed", -8.25, -3.5)
    assert cfg.loss.margins == "auto" and cfg.optim.lr != 0  # the PEBAL config is untouched
