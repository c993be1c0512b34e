"""Training on real-data layouts: presets that batch, paths that are required, recorded absolutely
and hashed, ``train_seconds`` over resumed parts, ``--resume`` of a finished run."""

from __future__ import annotations

import re

import json
import shutil

import numpy as np
import pytest
import torch

from _tiny_real import cityscapes_tree, coco_tree
from pebal.cli import main
from pebal.config import load_config
from pebal.models.checkpoint import read_metadata
from pebal.training.finetune import STATE_FILE, collate, finetune
from pebal.training.paths import file_sha256
from pebal.training.training_set import build_training_set

FAST = ["optim.max_steps=2", "optim.batch_size=2", "data.crop=[32,48]", "checkpoint_every=1", "tensorboard=false",
        "progress=false", "threads=1"]


@pytest.fixture(scope="module")
def real(tmp_path_factory, untrained_checkpoint):
    """A tiny Cityscapes + COCO pair and a pretrained checkpoint copied next to them."""
    root = tmp_path_factory.mktemp("real")
    cityscapes_tree(root / "cityscapes")
    coco_tree(root / "coco")
    shutil.copyfile(untrained_checkpoint, root / "pretrained.safetensors")
    return root


def _paths(real):
    return [f"data.root={real / 'cityscapes'}", f"data.outlier_root={real / 'coco'}",
            f"checkpoint={real / 'pretrained.safetensors'}"]


@pytest.mark.parametrize("preset, crop", [("paper", (896, 896)), ("reference", (900, 900))])
def test_each_real_preset_batches_its_multiscale_crops_as_written(real, preset, crop):
    # before the fix the paper preset had random scales and no crop: collate failed for batch > 1
    cfg = load_config(preset, overrides=_paths(real))
    assert cfg.data.crop == crop and cfg.data.dataset == "cityscapes" and cfg.data.outlier_source == "coco"
    dataset = build_training_set(cfg)
    assert len(dataset) == 4 + 1  # the 4 frames + max(1, floor(0.1 * 4)) always-mixed samples
    images, labels = collate([dataset[i] for i in range(len(dataset))])
    assert images.shape == (5, 3, *crop) and labels.shape == (5, *crop)
    assert (labels[4] == 254).any() and not (labels[:4] == 254).any()  # mix_probability 0, one extra mixed
    # a 64x128 frame scaled by at most 2 lies inside the crop: the rest is padding (void)
    assert ((labels != 255).sum(dim=(1, 2)) <= 128 * 256).all()


def test_random_scales_without_a_crop_are_refused_before_training(real):
    cfg = load_config("paper", overrides=[*_paths(real), "data.crop=null", "optim.batch_size=2"])
    with pytest.raises(ValueError, match=r"data\.crop=\[H,W\]"):
        build_training_set(cfg)
    cfg = load_config("paper", overrides=[*_paths(real), "data.crop=null", "optim.batch_size=1"])
    assert len(build_training_set(cfg)) == 5  # one sample per batch needs no common size


def test_real_presets_refuse_missing_and_wrong_paths(real, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    def refused(args: list[str]) -> str:
        """The command exits 2 (bad input) with its one-line error on stderr."""
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("pebal train: error:")
        return err

    text = refused(["train", "--preset", "paper", "--out", "run"])
    for flag in ("--cityscapes ROOT", "--coco ROOT", "--checkpoint FILE"):
        assert flag in text
    assert not (tmp_path / "run").exists()  # refused before anything was written
    text = refused(["train", "--preset", "reference", "--cityscapes", "nowhere", "--coco", str(real / "coco"),
                    "--checkpoint", str(real / "pretrained.safetensors")])
    assert re.search(r"data\.root = .*nowhere does not exist", text)
    # real inlier data with the embedded outlier pool is refused too, whatever the preset
    assert "embedded outlier pool" in refused(["train", "--preset", "embedded", "--cityscapes", str(real / "cityscapes"),
                                               "--checkpoint", str(real / "pretrained.safetensors")])


def test_paper_preset_trains_from_the_command_line_and_records_absolute_paths(real, tmp_path, monkeypatch):
    monkeypatch.chdir(real)  # relative paths, as a user types them
    args = ["train", "--preset", "paper", "--cityscapes", "cityscapes", "--coco", "coco", "--checkpoint",
            "pretrained.safetensors", "--out", str(tmp_path / "run")]
    for pair in FAST:
        args += ["--set", pair]
    assert main(args) == 0
    meta = read_metadata(tmp_path / "run" / "model.safetensors")
    assert meta["base_checkpoint"] == str(real / "pretrained.safetensors")
    assert meta["base_checkpoint_sha256"] == file_sha256(real / "pretrained.safetensors")
    assert meta["config"]["data"]["root"] == str(real / "cityscapes") and meta["config"]["preset"] == "paper"
    assert meta["config"]["data"]["outlier_root"] == str(real / "coco") and meta["steps"] == 2


def _evaluate(checkpoint, bench, out, *extra):
    return main(["evaluate", "--checkpoint", str(checkpoint), "--root", str(bench), "--out", str(out),
                 "--batch-size", "4", "--quiet", *extra])


@pytest.mark.slow
def test_evaluate_finds_the_base_checkpoint_from_another_folder_and_refuses_a_missing_one(
        tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    (work / "ckpts").mkdir(parents=True)
    shutil.copyfile(untrained_checkpoint, work / "ckpts" / "base.safetensors")
    monkeypatch.chdir(work)
    cfg = load_config("embedded", overrides=[f"data.root={tiny_benchmark}", "data.size=[64,128]",
                                             "checkpoint=ckpts/base.safetensors", "out=run", *FAST, "data.crop=null"])
    finetune(cfg)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _evaluate(work / "run" / "model.safetensors", tiny_benchmark, "eval") == 0
    saved = json.loads((elsewhere / "eval" / "results.json").read_text())
    assert saved["pretrained"] == str(work / "ckpts" / "base.safetensors") and saved["processes"] == 1
    # a changed base checkpoint is not silently used
    base = work / "ckpts" / "base.safetensors"
    original = base.read_bytes()
    base.write_bytes(original[:-4] + b"\0\0\0\0")
    capsys.readouterr()
    assert _evaluate(work / "run" / "model.safetensors", tiny_benchmark, "eval2") == 2
    assert "has changed since: pass --pretrained PATH" in capsys.readouterr().err
    # a moved one: the message says what to pass, and passing it works
    base.write_bytes(original)
    moved = tmp_path / "moved.safetensors"
    base.rename(moved)
    assert _evaluate(work / "run" / "model.safetensors", tiny_benchmark, "eval3") == 2
    assert re.search("does not exist .*pass --pretrained PATH", capsys.readouterr().err)
    assert _evaluate(work / "run" / "model.safetensors", tiny_benchmark, "eval4", "--pretrained", str(moved)) == 0
    again = json.loads((elsewhere / "eval4" / "results.json").read_text())
    sets = [k for k in saved if isinstance(saved[k], dict) and "msp" in saved[k]]
    assert sets and all(again[s]["msp"] == saved[s]["msp"] for s in sets)


class _Clock:
    """A fake ``time`` module for finetune whose clock advances 1 s per loss evaluation."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def _counting_loss(clock, build):
    def build_loss(*args, **kwargs):
        criterion = build(*args, **kwargs)

        def timed(logits, labels):
            clock.now += 1.0
            return criterion(logits, labels)

        return timed

    return build_loss


def test_train_seconds_count_every_step_over_a_resume(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch):
    import pebal.training.finetune as module

    original = module.build_loss

    def run(out, **kwargs):
        clock = _Clock()
        monkeypatch.setattr(module, "time", clock)
        monkeypatch.setattr(module, "build_loss", _counting_loss(clock, original))
        return finetune(load_config("embedded", overrides=[
            f"data.root={tiny_benchmark}", "data.size=[64,128]", f"checkpoint={untrained_checkpoint}", f"out={out}",
            "optim.max_steps=4", "optim.batch_size=2", "checkpoint_every=2", "tensorboard=false", "progress=false",
            "threads=1"]), **kwargs)

    full = read_metadata(run(tmp_path / "full"))
    assert full["train_seconds"] == 4.0 and full["steps"] == 4
    run(tmp_path / "killed", stop_after=3)  # killed after step 3; the state holds steps 1-2
    assert torch.load(tmp_path / "killed" / STATE_FILE, weights_only=True)["train_seconds"] == 2.0
    resumed = read_metadata(run(tmp_path / "killed", resume=True))  # steps 3-4 again
    assert resumed["train_seconds"] == 4.0  # before the fix: 2.0, the resumed part only


def test_resume_of_a_finished_run_leaves_every_file_untouched(tiny_benchmark, untrained_checkpoint, tmp_path, capsys):
    cfg = load_config("embedded", overrides=[
        f"data.root={tiny_benchmark}", "data.size=[64,128]", f"checkpoint={untrained_checkpoint}",
        f"out={tmp_path / 'run'}", "optim.max_steps=2", "optim.batch_size=2", "tensorboard=false",
        "progress=false", "threads=1"])
    path = finetune(cfg)

    def snapshot():
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((tmp_path / "run").rglob("*")) if p.is_file()}

    before = snapshot()
    assert set(before) == {tmp_path / "run" / n for n in ("config.yaml", STATE_FILE, "model.safetensors")}
    capsys.readouterr()
    assert finetune(cfg, resume=True) == path
    assert snapshot() == before
    assert "finished run" in capsys.readouterr().out


def test_bn_layers_in_train_mode_during_fine_tuning(untrained_checkpoint):
    """Which batch-norm layers normalise with batch statistics (and update their running
    statistics) while fine-tuning: the final block's two with the frozen part in eval mode
    (paper, embedded), every one with ``frozen_train_mode`` (reference)."""
    from pebal.models import load_checkpoint
    from pebal.training.distributed import count_batch_norm

    model = load_checkpoint(untrained_checkpoint)
    total = count_batch_norm(model.network)
    model.frozen_train_mode = False
    model.train()
    assert count_batch_norm(model.network, training=True) == count_batch_norm(model.final) == 2
    model.frozen_train_mode = True
    model.train()
    assert count_batch_norm(model.network, training=True) == total > 2
    # so a run with lr 0 (the batch-norm-only control) still changes the final block's running statistics
    before = {k: v.clone() for k, v in model.final.state_dict().items()}
    model.frozen_train_mode = False
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 32, 48)).astype(np.float32)))
    after = model.final.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed and all(k.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked") for k in changed)
