"""The guards of a training run, on small inputs: which config changes a resume allows, what a
state written before configs were stored is compared with, NaN in a loss or gradient."""

from __future__ import annotations

import pytest
import torch
import yaml

from pebal.config import TrainConfig
from pebal.errors import NonFiniteError, ResumeMismatchError
from pebal.training.guards import SAFE_TO_CHANGE, check_finite_step, check_resume, config_differences, config_fingerprint


def _state(path, config):
    torch.save({"step": 3, "seed": config["seed"], "config": config}, path)
    return path


def test_differences_name_nested_keys_and_ignore_tuple_vs_list():
    a = TrainConfig().to_dict()
    b = TrainConfig().to_dict()
    b["optim"]["lr"], b["data"]["size"] = 1e-3, [128, 256]  # a list equals the stored tuple
    assert config_differences(a, b) == {"optim.lr": (1e-5, 1e-3)}
    assert config_fingerprint(a) == config_fingerprint(TrainConfig().to_dict()) != config_fingerprint(b)


def test_resume_refuses_a_weight_changing_key_and_allows_logging(tmp_path):
    stored = TrainConfig().to_dict()
    path = _state(tmp_path / "train_state.pt", stored)
    given = TrainConfig().to_dict()
    given["loss"]["method"], given["seed"] = "ebm", 5
    with pytest.raises(ResumeMismatchError, match=r"2 key\(s\).*loss.method: 'pebal' in the run, 'ebm' given; seed: 0"):
        check_resume(path, given)
    notes = []
    given = TrainConfig().to_dict()
    given.update(log_every=1, threads=2, out="elsewhere", progress=False)
    check_resume(path, given, log=notes.append)
    assert notes and "log_every 10 -> 1" in notes[0]
    assert {"log_every", "threads", "out", "progress"} <= SAFE_TO_CHANGE
    assert not {"seed", "checkpoint", "optim.lr", "optim.max_steps", "data.root", "loss.method"} & SAFE_TO_CHANGE


def test_a_state_without_config_is_compared_with_the_runs_config_yaml(tmp_path):
    torch.save({"step": 2, "seed": 0}, tmp_path / "train_state.pt")
    given = TrainConfig().to_dict()
    check_resume(tmp_path / "train_state.pt", given)  # nothing to compare but the seed: it matches
    with pytest.raises(ResumeMismatchError, match="seed"):
        check_resume(tmp_path / "train_state.pt", {**given, "seed": 1})
    stored = TrainConfig().to_dict()
    stored["optim"]["epochs"] = 9
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(stored))
    with pytest.raises(ResumeMismatchError, match="optim.epochs: 9 in the run, 1 given"):
        check_resume(tmp_path / "train_state.pt", given)


def test_no_state_nothing_to_check(tmp_path):
    check_resume(tmp_path / "train_state.pt", {"seed": 1})


def test_finite_step_stops_on_nan_loss_or_gradient(tmp_path):
    weight = torch.nn.Parameter(torch.ones(3))
    (weight * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    check_finite_step(torch.tensor(1.0), {"pal": torch.tensor(1.0)}, [weight], 1, tmp_path / "s.pt", 1e-4)
    with pytest.raises(NonFiniteError, match="the loss became NaN or infinite at step 4.*no training state was written"):
        check_finite_step(torch.tensor(float("nan")), {"pal": torch.tensor(float("nan"))}, [weight], 4,
                          tmp_path / "s.pt", 1e-4)
    weight.grad[1] = float("inf")  # another process's NaN loss reaches this one through the averaged gradients
    (tmp_path / "s.pt").write_bytes(b"x")
    with pytest.raises(NonFiniteError, match="a gradient became NaN.*the last good training state is"):
        check_finite_step(torch.tensor(0.5), {}, [weight], 2, tmp_path / "s.pt", 1e-4)


def test_pretraining_stops_on_a_nan_loss_and_writes_no_checkpoint(tmp_path):
    import numpy as np

    from pebal.training.pretrain import PretrainConfig, pretrain

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 16, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (8, 16, 32), dtype=np.uint8)
    out = tmp_path / "m.safetensors"
    cfg = PretrainConfig(output=str(out), steps=6, batch_size=2, warmup_steps=0, lr=1e30, eval_every=0,
                         log_every=100, threads=1, scale_range=(1.0, 1.0))
    with pytest.raises(NonFiniteError, match="became NaN or infinite at step"):
        pretrain(cfg, log=lambda s: None, data=(images[:6], labels[:6], images[6:], labels[6:]))
    assert not out.exists()
