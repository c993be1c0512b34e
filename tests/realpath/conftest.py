"""Session fixtures of the real-path tier: every real data set in its release layout (tiny,
seeded) and random-weight WideResNet38 checkpoints in NVIDIA's and PEBAL's ``.pth`` formats.

See ``tests/realpath/README.md`` for what each fixture mimics. Everything is written once per
test session under pytest's temporary folder; the two 550 MB checkpoints are deleted when the
session ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from .realpath_tree import RealData, build_realdata


@pytest.fixture(scope="session")
def realdata(tmp_path_factory) -> RealData:
    """Every real data set in its release layout, written once per session."""
    return build_realdata(tmp_path_factory.mktemp("realdata"))


@dataclass(frozen=True)
class WRN38Checkpoints:
    nvidia: Path  # cityscapes_best.pth: NVIDIA's format, 19 classes
    pebal: Path   # best_ad_ckpt.pth: PEBAL's format, 19 + 1 classes, same weights


@pytest.fixture(scope="session")
def wrn38_checkpoints(tmp_path_factory):
    """Both WideResNet38 checkpoints (same random weights), written once, deleted at the end."""
    from .realpath_checkpoints import random_wrn38, write_nvidia_checkpoint, write_pebal_checkpoint

    folder = tmp_path_factory.mktemp("wrn38")
    net = random_wrn38(seed=0)
    paths = WRN38Checkpoints(nvidia=write_nvidia_checkpoint(folder / "cityscapes_best.pth", net),
                             pebal=write_pebal_checkpoint(folder / "best_ad_ckpt.pth", net))
    del net
    yield paths
    for f in folder.rglob("*"):  # the 550 MB files and anything derived from them (ONNX, copies)
        if f.is_file():
            f.unlink()


@pytest.fixture(scope="session")
def wrn38_nvidia_checkpoint(wrn38_checkpoints) -> Path:
    return wrn38_checkpoints.nvidia


@pytest.fixture(scope="session")
def wrn38_pebal_checkpoint(wrn38_checkpoints) -> Path:
    return wrn38_checkpoints.pebal
