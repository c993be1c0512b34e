"""Session fixtures of the real-path tier: every real data set in its release layout (tiny,
seeded) and random-weight WideResNet38 checkpoints in NVIDIA's and PEBAL's ``.pth`` formats.

See ``tests/realpath/README.md`` for what each fixture mimics. Everything is written once per
test session under pytest's temporary folder; the two 550 MB checkpoints are deleted when the
session ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from realpath_anomaly_layouts import write_fishyscapes, write_lostandfound, write_road_anomaly, write_smiyc
from realpath_inlier_layouts import write_cityscapes, write_coco

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RealData:
    """Roots of the fixture data sets (each as a user would pass it to ``--root``)."""

    root: Path
    cityscapes: Path            # leftImg8bit/ + gtFine/ (labelIds only, as released)
    cityscapes_train_ids: Path  # the same frames with *_gtFine_labelTrainIds.png added
    coco: Path                  # train2017/ + annotations/instances_train2017.json
    lostandfound: Path          # leftImg8bit/ + gtCoarse/ (train and test)
    fishyscapes: Path           # LostAndFound/ and Static/ (preprocessed layout)
    road_anomaly: Path          # preprocessed: original/ + labels/
    road_anomaly_original: Path  # the release: frame_list.json + frames/
    smiyc: Path                 # dataset_AnomalyTrack/ and dataset_ObstacleTrack/


def build_realdata(root: Path, seed: int = 0) -> RealData:
    """Write every fixture data set under ``root`` (about 1 s, 2 MB)."""
    data = RealData(
        root=root,
        cityscapes=write_cityscapes(root / "cityscapes", seed=seed),
        cityscapes_train_ids=write_cityscapes(root / "cityscapes_trainids", seed=seed, train_ids=True),
        coco=write_coco(root / "coco", seed=seed),
        lostandfound=write_lostandfound(root / "lostandfound", seed=seed),
        fishyscapes=write_fishyscapes(root / "fishyscapes", seed=seed),
        road_anomaly=write_road_anomaly(root / "road_anomaly", "preprocessed", seed=seed),
        road_anomaly_original=write_road_anomaly(root / "RoadAnomaly", "original", seed=seed),
        smiyc=write_smiyc(root / "smiyc", seed=seed),
    )
    return data


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
    from realpath_checkpoints import random_wrn38, write_nvidia_checkpoint, write_pebal_checkpoint

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


def run_pebal(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m pebal ARGS`` in ``cwd`` as a user would run it (output captured as text)."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-m", "pebal", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
