"""``kill -9`` in the middle of ``pebal synth`` / ``train`` / ``predict``, then the same command
again: the rerun finishes with what an uninterrupted run gives, and nothing that existed
before (your files, the prior complete result) is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from faults.fault_cases import BY_ID, expect, registry

RUNNERS, fault = registry()
pytestmark = pytest.mark.slow  # each case starts a command in a new process (torch import) and kills it
def _kill_when(argv, ready, timeout=180.0):
    """Start ``python -m pebal *argv``, SIGKILL it as soon as ``ready()`` holds."""
    process = subprocess.Popen([sys.executable, "-m", "pebal", *map(str, argv)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if process.poll() is not None:
                raise AssertionError(f"the command ended (code {process.returncode}) before it could be killed: "
                                     f"{process.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the command never reached the point to kill it at"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@fault("kill-synth")
def _(box, cli):
    from pebal.data.synthetic import SynthCounts, ensure_benchmark

    bench = box.out / "bench"
    bench.mkdir()
    (bench / "my_notes.txt").write_text("mine")
    args = ["synth", "--out", bench, "--size", "64x128", "--train", "60", "--val", "2", "--oe", "4", "--count", "2"]
    ledger = bench / ".synth-files.jsonl"
    box.freeze()
    _kill_when(args, lambda: ledger.is_file() and ledger.read_text().count('"file"') >= 5)
    assert not (bench / "manifest.json").exists(), "a killed run left a manifest"
    outcome = cli(*args)
    reference = ensure_benchmark(box.out / "reference", seed=0, size=(64, 128),
                                 counts=SynthCounts(train=60, val=2, outlier_exposure=4, test=2))
    got, want = (json.loads((p / "manifest.json").read_text()) for p in (bench, reference))
    assert got["content_sha256"] == want["content_sha256"] and got["files"] == want["files"]
    assert (bench / "my_notes.txt").read_text() == "mine"
    return outcome


def _train_args(box, out):
    return ["train", "--checkpoint", box.inputs / "ckpt" / "ok.safetensors", "--out", out,
            "--set", f"data.root={box.benchmark}", "--set", "data.size=[64,128]", "--set", "data.max_images=8",
            "--set", "optim.batch_size=2", "--set", "optim.epochs=3", "--set", "loss.margins=fixed",
            "--set", "checkpoint_every=2", "--set", "progress=false", "--set", "tensorboard=false",
            "--set", "threads=1"]


@fault("kill-train")
def _(box, cli):
    from safetensors.torch import load_file

    run = box.out / "run"
    state = run / "train_state.pt"
    box.freeze()
    _kill_when(_train_args(box, run), state.is_file)
    assert not (run / "model.safetensors").exists()
    outcome = cli(*_train_args(box, run), "--resume")
    assert cli(*_train_args(box, box.out / "reference")).code == 0
    got, want = load_file(run / "model.safetensors"), load_file(box.out / "reference" / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    return outcome


def _assert_index_matches_folder(folder):
    """predictions.json lists exactly the output files in ``folder``, and each exists."""
    summary = json.loads((folder / "predictions.json").read_text())
    listed = {name for record in summary["outputs"] for name in record["files"].values()}
    present = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    present -= {"predictions.json", "index.html", "colorbar.png"}
    assert listed == present, f"not listed: {sorted(present - listed)[:5]}; listed but missing: {sorted(listed - present)[:5]}"


def _images(box, count):
    folder = box.work / f"images_{count}"
    folder.mkdir()
    photo = (box.inputs / "images" / "ok.png").read_bytes()
    for i in range(count):
        (folder / f"frame_{i:03d}.png").write_bytes(photo)
    return folder


@fault("kill-predict")
def _(box, cli):
    folder, pred = _images(box, 8), box.out / "pred"
    args = ["predict", folder, "--checkpoint", box.inputs / "ckpt" / "finetuned.safetensors", "--out", pred]
    box.freeze()

    def written() -> int:
        return len(list(pred.glob("frame_*_heatmap.png")))

    _kill_when(args, lambda: written() >= 2)
    assert written() < 8, "the run was not interrupted"
    assert json.loads((pred / "predictions.json").read_text())["status"] == "running", "the cut index claims completion"
    outcome = cli(*args)
    assert "finished earlier and kept" in outcome.out, outcome.out
    _assert_index_matches_folder(pred)
    return outcome


@fault("predict-rerun-fewer")
def _(box, cli):
    pred = box.out / "pred"
    checkpoint = box.inputs / "ckpt" / "finetuned.safetensors"
    assert cli("predict", _images(box, 3), "--checkpoint", checkpoint, "--out", pred).code == 0
    box.freeze()
    outcome = cli("predict", box.inputs / "images" / "ok.png", "--checkpoint", checkpoint, "--out", pred)
    _assert_index_matches_folder(pred)
    return outcome


@pytest.mark.parametrize("case_id", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=BY_ID[c].pending))
                                     if BY_ID[c].pending else c for c in sorted(RUNNERS)])
def test_fault(case_id, box, run_cli):
    outcome = RUNNERS[case_id](box, run_cli)
    expect(case_id, outcome)
    box.assert_untouched()
