"""Faults of ``pebal train`` / ``pebal demo``: bad config values, resume with another config,
a loss that becomes NaN, a diverged checkpoint, an empty outlier pool, a foreign data folder."""

from __future__ import annotations

import torch
import pytest

from faults.fault_cases import expect, registry

RUNNERS, fault = registry()


def _train_args(box, *extra, checkpoint="ok.safetensors", out=None):
    return ["train", "--checkpoint", box.inputs / "ckpt" / checkpoint, "--out", out or box.out / "run",
            "--set", f"data.root={box.benchmark}", "--set", "data.size=[64,128]", "--set", "data.max_images=4",
            "--set", "optim.batch_size=2", "--set", "optim.max_steps=2", "--set", "loss.margins=fixed",
            "--set", "progress=false", "--set", "tensorboard=false", *extra]


def _config_case(setting):
    def run(box, cli):
        box.freeze()
        outcome = cli(*_train_args(box, *setting))
        assert not (box.out / "run").exists(), "a refused config must not create the run folder"
        return outcome

    return run


for _id, _setting in {
    "config-epochs": ["--set", "optim.epochs=-1"],
    "config-batch-size": ["--set", "optim.batch_size=0"],
    "config-size": ["--set", "data.size=[1,2,3]"],
    "config-seed": ["--seed", "-1"],
    "config-threads": ["--set", "threads=-1"],
    "config-loss-method": ["--set", "loss.method=123"],
    "config-checkpoint-every": ["--set", "checkpoint_every=0"],
    "config-max-steps": ["--set", "optim.max_steps=0"],
}.items():
    fault(_id)(_config_case(_setting))


@fault("config-demo")
def _(box, cli):
    box.freeze()
    return cli("demo", "--out", box.out / "demo", "--set", "optim.lr=nan", "--quiet")


def _started_run(box, cli, *extra):
    """A run that did 1 of 2 steps with lr 1e-4 and stopped (as after a kill)."""
    from pebal.cli.train import resolve_config
    from pebal.cli import build_parser
    from pebal.training.finetune import finetune

    args = build_parser().parse_args([str(a) for a in _train_args(box, "--set", "optim.lr=1e-4",
                                                                  "--set", "checkpoint_every=1", *extra)])
    finetune(resolve_config(args), stop_after=1)
    return box.out / "run"


@fault("resume-other-config")
def _(box, cli):
    run = _started_run(box, cli)
    kept = {name: (run / name).stat() for name in ("train_state.pt", "config.yaml")}
    box.freeze()
    outcome = cli(*_train_args(box, "--set", "optim.lr=1e-3", "--set", "checkpoint_every=1", "--resume"))
    assert "optim.lr: 0.0001 in the run, 0.001 given" in outcome.err
    for name, before in kept.items():  # the run's state and config are the run's, untouched
        after = (run / name).stat()
        assert (after.st_mtime_ns, after.st_ino, after.st_size) == (before.st_mtime_ns, before.st_ino, before.st_size)
    assert not (run / "model.safetensors").exists()
    return outcome


@fault("resume-logging-change")
def _(box, cli):
    run = _started_run(box, cli)
    box.freeze()
    outcome = cli(*_train_args(box, "--set", "optim.lr=1e-4", "--set", "checkpoint_every=1", "--set", "log_every=5",
                               "--resume"))
    assert (run / "model.safetensors").is_file()
    return outcome


@fault("nan-loss")
def _(box, cli):
    box.freeze()
    outcome = cli(*_train_args(box, "--set", "optim.lr=1e30", "--set", "checkpoint_every=1",
                               "--set", "optim.max_steps=4"))
    run = box.out / "run"
    assert not (run / "model.safetensors").exists(), "no fine-tuned checkpoint after a NaN loss"
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["final"].values()), "the kept state is a good one"
    assert f"at step {state['step'] + 1}" in outcome.err
    return outcome


@fault("nan-checkpoint-train")
def _(box, cli):
    box.freeze()
    return cli(*_train_args(box, checkpoint="nan.safetensors"))


@fault("nan-checkpoint-evaluate")
def _(box, cli):
    box.freeze()
    predicted = cli("predict", box.inputs / "images" / "ok.png", "--checkpoint", box.inputs / "ckpt" / "nan.safetensors",
                    "--out", box.out / "pred")
    assert predicted.code == 2 and "holds NaN or infinite weights" in predicted.err
    return cli("evaluate", "--checkpoint", box.inputs / "ckpt" / "nan.safetensors", "--root", box.benchmark,
               "--out", box.out / "eval", "--quiet")


@fault("outlier-pool-empty")
def _(box, cli):
    box.freeze()
    return cli(*_train_args(box, "--set", "data.outlier_source=rgba-folder",
                            "--set", f"data.outlier_root={box.inputs / 'empty_outliers'}"))


@fault("train-foreign-files")
def _(box, cli):
    data = box.work / "data"
    (data / "test").mkdir(parents=True)
    (data / "test" / "my_labels.txt").write_text("mine")
    box.freeze()
    args = _train_args(box)
    args[args.index(f"data.root={box.benchmark}")] = f"data.root={data}"
    return cli(*args)


@pytest.mark.parametrize("case_id", sorted(RUNNERS))
def test_fault(case_id, box, run_cli):
    outcome = RUNNERS[case_id](box, run_cli)
    expect(case_id, outcome)
    box.assert_untouched()
