"""Inputs of the fault-injection suite (made once per session) and the per-case sandbox.

``fault_inputs`` holds good and broken checkpoints, images and data sets; every case runs with
an output folder ``box.out`` that already holds a prior result, and checks afterwards that
nothing outside that folder changed (:meth:`Box.assert_untouched`) and that the prior result
is still there.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faults.fault_cases import Outcome, snapshot


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _folder_dataset(root: Path, labels: list[np.ndarray], size=(40, 64)) -> Path:
    (root / "original").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i, label in enumerate(labels):
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(root / "original" / f"v{i}.png")
        Image.fromarray(label).save(root / "labels" / f"v{i}.png")
    return root


@pytest.fixture(scope="session")
def fault_inputs(tmp_path_factory, tiny_benchmark):
    """Good and broken inputs; read-only for every case (the sandbox check covers them)."""
    from safetensors.torch import save_file

    from pebal.models import create_model, save_checkpoint

    root = tmp_path_factory.mktemp("fault_inputs")
    ck = root / "ckpt"
    ck.mkdir()
    torch.manual_seed(0)
    net = create_model("deeplabv3plus_small", num_classes=19)
    save_checkpoint(ck / "ok.safetensors", net, architecture="deeplabv3plus_small", num_classes=19, abstention=False)
    tuned = create_model("deeplabv3plus_small", num_classes=20, generator=torch.Generator().manual_seed(1))
    save_checkpoint(ck / "finetuned.safetensors", tuned, architecture="deeplabv3plus_small", num_classes=19,
                    abstention=True, base_checkpoint=str(ck / "ok.safetensors"))
    with torch.no_grad():
        tuned.final[6].weight.fill_(float("nan"))
    save_checkpoint(ck / "nan.safetensors", tuned, architecture="deeplabv3plus_small", num_classes=19,
                    abstention=True, base_checkpoint=str(ck / "ok.safetensors"))
    save_checkpoint(ck / "badkw.safetensors", net, architecture="deeplabv3plus_small", num_classes=19,
                    abstention=False, model_kwargs={"bogus": 1})
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(ck / "nometa.safetensors"), metadata={"pebal": json.dumps({"format_version": 1})})
    good = (ck / "ok.safetensors").read_bytes()
    (ck / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    torch.save(net.state_dict(), ck / "pickle.safetensors")
    with open(ck / "evil.pth", "wb") as f:
        pickle.dump({"state_dict": _Evil(root / "PWNED")}, f, protocol=2)
    first = next(iter(state))
    save_file({k: v for k, v in state.items() if k != first}, str(ck / "missing.safetensors"),
              metadata={"pebal": json.dumps({"format_version": 1, "architecture": "deeplabv3plus_small",
                                             "num_classes": 19, "abstention": False, "model_kwargs": {}})})

    im = root / "images"
    im.mkdir()
    photo = (tiny_benchmark / "test" / "road-obstacles" / "original" / "00000.png").read_bytes()
    (im / "ok.png").write_bytes(photo)
    (im / "truncated.png").write_bytes(photo[: len(photo) // 2])
    (im / "zero.png").write_bytes(b"")
    (im / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    Image.fromarray((np.arange(64 * 128).reshape(64, 128) * 7 % 65535).astype(np.uint16)).save(im / "deep16.png")
    rgb = np.asarray(Image.open(im / "ok.png"))
    Image.fromarray(np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 128, np.uint8)], 2)).save(im / "rgba.png")

    inlier = np.zeros((40, 64), np.uint8)
    anomalous = inlier.copy()
    anomalous[10:20, 20:40] = 1
    _folder_dataset(root / "no_anomaly", [inlier, inlier])
    _folder_dataset(root / "wrong_size", [anomalous, np.zeros((20, 32), np.uint8)])
    unknown = anomalous.copy()
    unknown[0, 0] = 7
    _folder_dataset(root / "unknown_value", [anomalous, unknown])
    (root / "empty_outliers").mkdir()
    return root


@dataclass
class Box:
    """One case's sandbox: ``out`` (holds ``prior.json``, a result of an earlier run) and
    ``work`` (a scratch folder the case may fill before it runs the command)."""

    out: Path
    work: Path
    inputs: Path
    benchmark: Path
    before: dict = field(default_factory=dict)

    def freeze(self) -> None:
        """Record the state of everything outside ``out``; call before running the command."""
        self.before = snapshot(self.inputs, self.benchmark, self.work.parent, skip=self.out)

    def assert_untouched(self) -> None:
        after = snapshot(self.inputs, self.benchmark, self.work.parent, skip=self.out)
        changed = sorted(p for p in set(self.before) | set(after) if self.before.get(p) != after.get(p))
        assert not changed, f"files outside the output folder changed: {changed[:5]}"
        assert json.loads((self.out / "prior.json").read_text()) == {"prior": "result"}, "a prior result was lost"


@pytest.fixture()
def box(tmp_path, fault_inputs, tiny_benchmark):
    out = tmp_path / "out"
    out.mkdir()
    (out / "prior.json").write_text(json.dumps({"prior": "result"}))
    work = tmp_path / "work"
    work.mkdir()
    return Box(out=out, work=work, inputs=fault_inputs, benchmark=tiny_benchmark)


@pytest.fixture()
def run_cli(capsys):
    """``run_cli(*argv)`` -> :class:`Outcome` of ``pebal.cli.main`` in this process."""
    from pebal.cli import main

    def run(*argv) -> Outcome:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
