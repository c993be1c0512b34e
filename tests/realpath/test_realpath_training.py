"""The researcher's training path on release layouts and NVIDIA's checkpoint format: ``train``
with the paper's and the reference's presets (batch 2, multi-scale, a tiny crop), ``--resume``,
``evaluate`` from another working directory (one process and ``torchrun`` with two gloo
processes), ``experiment ablation --preset paper --test-set ...`` and ``torchrun`` training.

Each command runs as a user runs it (``python -m pebal`` in a fresh process, relative paths
typed in the data's folder). The WideResNet38 is full size (550 MB, 137M parameters); the crops
are 64x64, so a step takes a few seconds of CPU. Every fine-tuned model written here is deleted
when the module ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from .realpath_cli import REPO, run_pebal

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

#: The tiny budget of every run: 2 steps of batch 2 on 64x64 crops (the presets' scales and flips kept).
TINY = ["optim.max_steps=2", "optim.batch_size=2", "data.crop=[64,64]", "checkpoint_every=1", "tensorboard=false",
        "progress=false", "threads=2"]


def _sets(pairs):
    return [a for pair in pairs for a in ("--set", pair)]


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory, realdata, wrn38_nvidia_checkpoint):
    """A user's folder: the data and ``ckpts/cityscapes_best.pth`` reachable by relative paths."""
    folder = tmp_path_factory.mktemp("researcher")
    (folder / "ckpts").mkdir()
    os.symlink(wrn38_nvidia_checkpoint, folder / "ckpts" / "cityscapes_best.pth")
    os.symlink(realdata.root, folder / "data")
    yield folder
    for f in folder.rglob("*.safetensors"):  # 550 MB each
        f.unlink()


def _train(work, preset, out, *extra):
    return run_pebal(["train", "--preset", preset, "--cityscapes", "data/cityscapes", "--coco", "data/coco",
                      "--checkpoint", "ckpts/cityscapes_best.pth", "--out", out, *_sets(TINY), *extra], cwd=work)


@pytest.fixture(scope="module")
def paper_run(work):
    _ok(_train(work, "paper", "runs/paper"))
    return work / "runs" / "paper"


def test_train_paper_preset_on_the_release_layouts(paper_run, work, wrn38_nvidia_checkpoint):
    from pebal.models.checkpoint import read_metadata
    from pebal.training.paths import file_sha256

    meta = read_metadata(paper_run / "model.safetensors")
    cfg = meta["config"]
    assert cfg["preset"] == "paper" and cfg["loss"]["variant"] == "paper" and cfg["optim"]["lr"] == 1e-5
    assert cfg["data"]["scale_range"] == [0.5, 2.0] and cfg["data"]["crop"] == [64, 64]
    assert cfg["data"]["extra_mixed_fraction"] == 0.1 and cfg["data"]["outlier_source"] == "coco"
    # typed relative, recorded absolute (through the user's symlinks) with the content's hash
    assert meta["base_checkpoint"] == str(work / "ckpts" / "cityscapes_best.pth")
    assert meta["base_checkpoint_sha256"] == file_sha256(wrn38_nvidia_checkpoint)
    assert cfg["data"]["root"] == str(work / "data" / "cityscapes")
    assert meta["architecture"] == "deeplabv3plus_wrn38" and meta["steps"] == 2 and meta["train_seconds"] > 0


def test_train_reference_preset_on_the_release_layouts(work):
    from pebal.models.checkpoint import read_metadata

    _ok(_train(work, "reference", "runs/reference"))
    cfg = read_metadata(work / "runs" / "reference" / "model.safetensors")["config"]
    assert cfg["preset"] == "reference" and cfg["frozen_train_mode"] is True and cfg["data"]["flip_probability"] == 0.8
    assert cfg["data"]["scales"] == [0.5, 0.75, 1.0, 1.5, 1.75, 2.0] and cfg["loss"]["variant"] == "reference"


def test_resume_reaches_the_uninterrupted_weights_and_leaves_a_finished_run_alone(paper_run, work):
    from pebal.config import load_config
    from pebal.models.checkpoint import read_metadata
    from pebal.training.finetune import finetune

    cwd = os.getcwd()
    os.chdir(work)
    try:  # killed after step 1 (the state of step 1 is on disk)
        cfg = load_config("paper", overrides=["data.root=data/cityscapes", "data.outlier_root=data/coco",
                                              "checkpoint=ckpts/cityscapes_best.pth", "out=runs/resumed", *TINY])
        assert not finetune(cfg, stop_after=1).exists()
    finally:
        os.chdir(cwd)
    _ok(_train(work, "paper", "runs/resumed", "--resume"))
    resumed, full = load_file(str(work / "runs" / "resumed" / "model.safetensors")), load_file(
        str(paper_run / "model.safetensors"))
    assert resumed.keys() == full.keys()
    for key in full:
        assert torch.equal(resumed[key], full[key]), key
    assert read_metadata(work / "runs" / "resumed" / "model.safetensors")["steps"] == 2
    files = sorted(p for p in (work / "runs" / "resumed").iterdir() if p.is_file())
    stamps = [(p.stat().st_mtime_ns, p.stat().st_size) for p in files]
    out = _ok(_train(work, "paper", "runs/resumed", "--resume"))
    assert "finished run" in out
    assert [(p.stat().st_mtime_ns, p.stat().st_size) for p in files] == stamps


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "pebal", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_evaluate_from_another_folder_alone_and_under_torchrun(paper_run, work, realdata, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    common = ["evaluate", "--checkpoint", paper_run / "model.safetensors", "--dataset", "lostandfound",
              "--root", realdata.lostandfound, "--split", "test", "--inlier-dataset", "cityscapes",
              "--inlier-root", realdata.cityscapes, "--batch-size", "1", "--quiet"]
    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the same kernels as each torchrun process
    try:
        _ok(run_pebal([*common, "--out", "one"], cwd=elsewhere))
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
    out = _ok(_torchrun([*map(str, common), "--out", "two"], cwd=elsewhere))
    assert out.count("written:") == 1
    one = json.loads((elsewhere / "one" / "results.json").read_text())
    two = json.loads((elsewhere / "two" / "results.json").read_text())
    assert one["pretrained"] == str(work / "ckpts" / "cityscapes_best.pth")  # found from another folder
    assert one.pop("processes") == 1 and two.pop("processes") == 2
    assert two == one  # each frame evaluated once, exact states merged
    assert one["lostandfound"]["pebal"]["num_positive"] > 0 and "miou" in one


def test_copy_of_an_nvidia_checkpoint_for_posthoc_statistics_is_a_pebal_file(wrn38_nvidia_checkpoint, tmp_path):
    """Table 1's post-hoc rows (SML, Mahalanobis) store statistics in the experiment's copy of
    the pretrained model: a ``.pth`` is converted, never copied under a ``.safetensors`` name."""
    from pebal.experiments.runner import _copy_pretrained
    from pebal.models.checkpoint import read_metadata, update_metadata

    copy = tmp_path / "model.safetensors"
    _copy_pretrained(str(wrn38_nvidia_checkpoint), copy)
    try:
        assert read_metadata(copy)["architecture"] == "deeplabv3plus_wrn38"
        assert update_metadata(copy, sml={"mean": [0.0]})["sml"] == {"mean": [0.0]}
    finally:
        copy.unlink()


def test_experiment_ablation_paper_preset_on_lostandfound(work, realdata):
    out = _ok(run_pebal(["experiment", "ablation", "--preset", "paper", "--cityscapes", "data/cityscapes",
                         "--coco", "data/coco", "--checkpoint", "ckpts/cityscapes_best.pth",
                         "--test-set", "lostandfound:test=data/lostandfound", "--seeds", "0", "--bootstrap", "5",
                         "--quiet", "--out", "runs/ablation", *_sets([*TINY[:3], "optim.max_steps=1",
                                                                       "tensorboard=false", "threads=2"])],
                        cwd=work))
    assert "preset: paper" in out
    results = json.loads((work / "runs" / "ablation" / "results.json").read_text())
    assert results["preset"] == "paper" and results["test_sets"] == ["lostandfound:test"]
    assert [r["setting"] for r in results["rows"]] == ["em", "ebm", "pal_fixed", "pal_ebm", "pebal"]
    for row in results["rows"]:
        assert 0 <= row["metrics"]["lostandfound:test"]["ap"]["mean"] <= 1
    run = json.loads((work / "runs" / "ablation" / "runs" / "pebal" / "seed_0" / "result.json").read_text())
    assert run["config"]["preset"] == "paper" and run["config"]["optim"]["max_steps"] == 1
    for f in (work / "runs" / "ablation").rglob("*.safetensors"):
        f.unlink()  # 5 x 550 MB


def test_torchrun_trains_the_paper_preset_with_two_gloo_processes(work):
    from pebal.models.checkpoint import read_metadata

    args = ["train", "--preset", "paper", "--cityscapes", "data/cityscapes", "--coco", "data/coco",
            "--checkpoint", "ckpts/cityscapes_best.pth", "--out", "runs/torchrun",
            *_sets([*TINY, "optim.batch_size=1"])]  # 2 processes x batch 1
    _ok(_torchrun(args, cwd=work))
    meta = read_metadata(work / "runs" / "torchrun" / "model.safetensors")
    assert meta["processes"] == 2 and meta["steps"] == 2 and meta["config"]["optim"]["batch_size"] == 1
    state = load_file(str(work / "runs" / "torchrun" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for k, v in state.items() if k.startswith("branch1.final."))
    shutil.rmtree(work / "runs" / "torchrun")
