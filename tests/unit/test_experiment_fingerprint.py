"""Experiment runs are reused by what they train from, not by where those files lie."""

from __future__ import annotations

import json
import shutil

from pebal.config import load_config
from pebal.experiments.runner import _outlier_pool


def _fingerprint(root, ckpt):
    cfg = load_config("embedded", overrides=[f"data.root={root}", f"checkpoint={ckpt}", "data.size=[64,128]"])
    return _outlier_pool(cfg)["fingerprint"]


def test_a_copied_checkout_keeps_the_fingerprint_an_overwritten_checkpoint_changes_it(tiny_benchmark,
                                                                                    untrained_checkpoint, tmp_path):
    copy_root, copy_ckpt = tmp_path / "bench", tmp_path / "ckpt.safetensors"
    shutil.copytree(tiny_benchmark, copy_root)
    shutil.copyfile(untrained_checkpoint, copy_ckpt)
    original = _fingerprint(tiny_benchmark, untrained_checkpoint)
    assert _fingerprint(copy_root, copy_ckpt) == original  # same bytes elsewhere: the same training

    copy_ckpt.write_bytes(copy_ckpt.read_bytes()[:-1] + b"\x01")  # weights overwritten in place
    assert _fingerprint(copy_root, copy_ckpt) != original

    shutil.copyfile(untrained_checkpoint, copy_ckpt)
    manifest = copy_root / "manifest.json"  # a regenerated benchmark at the same path
    data = json.loads(manifest.read_text())
    data["content_sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    assert _fingerprint(copy_root, copy_ckpt) != original
