"""Recognition of checkpoint files and refusal of files that would run code when unpickled."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from pebal.models import load_checkpoint, save_checkpoint
from pebal.models.checkpoint import CheckpointError
from pebal.models.formats import (
    _add_abstention_channel,
    detect_format,
    read_torch_file,
    split_torch_checkpoint,
)


class _WritesMarker:
    """Unpickling this object calls ``os.mkdir(marker)``: a visible side effect."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_file_that_executes_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"module.x": torch.zeros(1)}, "payload": _WritesMarker(str(marker))}, path)
    with pytest.raises(CheckpointError, match="could execute code.*refused") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "mkdir" in str(info.value)  # names the object
    assert not marker.exists()
    # sanity check of the test itself: an unrestricted unpickler would have run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_numpy_scalars_and_arrays_are_accepted(tmp_path):
    path = tmp_path / "nv.pth"
    torch.save({"state_dict": {"module.a": torch.ones(2)}, "mean_iu": np.float64(0.9),
                "iu": np.arange(3.0), "epoch": 4}, path)
    obj = read_torch_file(path)
    assert obj["mean_iu"] == 0.9 and obj["iu"].tolist() == [0.0, 1.0, 2.0]
    layout, state, extras = split_torch_checkpoint(obj, str(path))
    assert layout == "nvidia" and list(state) == ["branch1.a"]
    assert extras == {"mean_iu": 0.9, "epoch": 4}


def test_detect_format(tmp_path):
    st = tmp_path / "a.safetensors"
    save_checkpoint(st, nn.Conv2d(1, 2, 1), architecture="x", num_classes=1, abstention=True)
    pt = tmp_path / "b.pth"
    torch.save({"a": torch.ones(1)}, pt)
    legacy = tmp_path / "c.pth"
    torch.save({"a": torch.ones(1)}, legacy, _use_new_zipfile_serialization=False)
    assert detect_format(st) == "safetensors"
    assert detect_format(pt) == "torch" and detect_format(legacy) == "torch"
    junk = tmp_path / "d.bin"
    junk.write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match="neither a safetensors file nor a PyTorch file"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pth")
    truncated = tmp_path / "e.pth"
    truncated.write_bytes(pt.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        load_checkpoint(truncated)


def test_split_recognises_layouts():
    t = torch.zeros(1)
    nvidia = {"state_dict": {"module.mod1.conv1.weight": t, "module.criterion.nll_loss.weight": t}, "epoch": 1}
    layout, state, extras = split_torch_checkpoint(nvidia, "f")
    assert layout == "nvidia" and list(state) == ["branch1.mod1.conv1.weight"] and extras == {"epoch": 1}
    pebal = {"model": {"branch1.mod1.conv1.weight": t}, "optimizer": {"state": {}}, "iteration": 9}
    assert split_torch_checkpoint(pebal, "f")[:2] == ("pebal", {"branch1.mod1.conv1.weight": t})
    assert split_torch_checkpoint({"branch1.x": t}, "f")[:2] == ("pebal", {"branch1.x": t})
    assert split_torch_checkpoint({"module.branch1.x": t}, "f")[:2] == ("pebal", {"branch1.x": t})
    with pytest.raises(CheckpointError, match="keys start with \\['encoder'\\]"):
        split_torch_checkpoint({"encoder.x": t}, "f")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        split_torch_checkpoint({"epoch": 3}, "f")


def test_classifier_missing_is_reported(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"branch1.mod1.conv1.weight": torch.zeros(64, 3, 3, 3)}}, path)
    with pytest.raises(CheckpointError, match="not a WideResNet38 DeepLabv3\\+ checkpoint"):
        load_checkpoint(path)


def test_abstention_channel_is_seeded_kaiming_and_keeps_trained_channels():
    g = torch.Generator().manual_seed(0)
    trained = torch.randn(19, 256, 1, 1, generator=g)
    a = {"branch1.final.6.weight": trained.clone()}
    b = {"branch1.final.6.weight": trained.clone()}
    _add_abstention_channel(a, torch.Generator().manual_seed(5))
    _add_abstention_channel(b, torch.Generator().manual_seed(5))
    w = a["branch1.final.6.weight"]
    assert w.shape == (20, 256, 1, 1)
    assert torch.equal(w[:19], trained) and torch.equal(w, b["branch1.final.6.weight"])
    # the same draw as pebal.model.extend_classifier: N(0, 2 / fan_in) from the generator
    expected = torch.randn(256, 1, 1, generator=torch.Generator().manual_seed(5)) * (2 / 256) ** 0.5
    torch.testing.assert_close(w[19], expected)
