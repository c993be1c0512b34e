"""``pebal export-scores`` with the WideResNet38 checkpoints: SMIYC submissions where the
benchmark's own code looks for them, Fishyscapes score maps.

The benchmark's rule for where it looks, re-expressed from its code
(github.com/SegmentMeIfYouCan/road-anomaly-benchmark, commit 1c7804e, 2023-08-24):

* ``Evaluation.channels['anomaly_p']`` reads
  ``DIR_OUTPUTS/anomaly_p/{method_name}/{dset_name}/{fid}.hdf5``, the HDF5 variable ``value``,
  then ``np.squeeze``;
* ``dset_name`` of a frame is ``cfg.name_for_persistence`` (else ``cfg.name``) of the data set
  whose ``DatasetBase.get_frame`` produced it. AnomalyTrack-validation and -test
  (``RoadAnomalyByClass``) hand every frame to ``DatasetRegistry.get('AnomalyTrack-all')``,
  which has no persistence name; every ObstacleTrack config carries
  ``name_for_persistence='ObstacleTrack-all'``; LostAndFound-testNoKnown carries
  ``'LostAndFound-test'``;
* the frames: AnomalyTrack ``images/*.jpg`` stems (-validation lists validation0000-0009,
  -test lists 100 ids); ObstacleTrack ``images/*.webp`` stems whose scene (the id up to the
  first ``_``) is in the split's scene set; LostAndFound the sorted test frame ids minus the
  all-zero-label frames and four known-object prefixes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pebal.cli import main

from .realpath_anomaly_layouts import FISHYSCAPES_NAMES
from .realpath_cli import run_pebal

h5py = pytest.importorskip("h5py")

# --- the benchmark's rule, written out independently of pebal's code ---------------------

OBSTACLE_ALL = {"curvy-street", "one-way-street", "gravel", "greyasphalt", "motorway", "paving", "darkasphalt",
                "darkasphalt2", "snowstorm1", "snowstorm2", "driveway", "validation"}
#: a few ids of the benchmark's 100-frame AnomalyTrack-test list (the fixture uses three of them)
ANOMALY_TEST_LISTED = {"zebra0000", "cones0001", "carriage0003", "sheep0004", "tractor0002", "piano0000"}
LAF_KNOWN_PREFIXES = ("15_Rechbergstr_Deckenpfronn", "01_Hanns_Klemm_Str_45_000006",
                      "01_Hanns_Klemm_Str_45_000007", "10_Schlossberg_9_000004")


def benchmark_frames(split: str, smiyc: Path, laf: Path) -> tuple[str, list[str]]:
    """(persistence folder, frame ids) of one of the benchmark's data sets on the fixture."""
    if split.startswith("AnomalyTrack"):
        fids = sorted(p.stem for p in (smiyc / "dataset_AnomalyTrack" / "images").glob("*.jpg"))
        if split.endswith("validation"):
            return "AnomalyTrack-all", [f for f in fids if f.startswith("validation")]
        return "AnomalyTrack-all", [f for f in fids if f in ANOMALY_TEST_LISTED]
    if split.startswith("ObstacleTrack"):
        fids = sorted(p.stem for p in (smiyc / "dataset_ObstacleTrack" / "images").glob("*.webp"))
        if split == "ObstacleTrack-test":
            scenes = OBSTACLE_ALL - {"snowstorm1", "snowstorm2", "driveway", "validation"}
            return "ObstacleTrack-all", [f for f in fids if f.split("_")[0] in scenes]
        excluded = ("validation_19",) + tuple(f"validation_{i}" for i in range(21, 30))
        return "ObstacleTrack-all", [f for f in fids if f.split("_")[0] == "validation" and not f.startswith(excluded)]
    assert split == "LostAndFound-testNoKnown"
    from PIL import Image

    frames = []
    for image in sorted((laf / "leftImg8bit" / "test").glob("*/*_leftImg8bit.png")):
        fid = image.name[: -len("_leftImg8bit.png")]
        label = laf / "gtCoarse" / "test" / image.parent.name / f"{fid}_gtCoarse_labelIds.png"
        if np.count_nonzero(np.array(Image.open(label))) and not fid.startswith(LAF_KNOWN_PREFIXES):
            frames.append(fid)
    return "LostAndFound-test", frames


def benchmark_reads(outputs: Path, method: str, split: str, smiyc: Path, laf: Path) -> dict[str, np.ndarray]:
    """What the benchmark's loader would read for ``split``: ``{fid: np.squeeze(value)}``;
    a frame it cannot find raises, as the benchmark's ``h5py.File`` does."""
    folder, fids = benchmark_frames(split, smiyc, laf)
    assert fids, f"the fixture has no frame of {split}"
    read = {}
    for fid in fids:
        with h5py.File(outputs / "anomaly_p" / method / folder / f"{fid}.hdf5", "r") as f:
            read[fid] = np.squeeze(f["value"][:])
    return read


# --- the commands -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smiyc_export(realdata, wrn38_checkpoints, tmp_path_factory):
    """The submission of a researcher: both tracks' test frames and LostAndFound testNoKnown,
    with PEBAL's and NVIDIA's checkpoints; one command run from another folder."""
    out = tmp_path_factory.mktemp("smiyc_export")
    ckpt = wrn38_checkpoints.pebal
    assert main(["export-scores", "--checkpoint", str(ckpt), "--dataset", "smiyc-anomaly",
                 "--root", str(realdata.smiyc), "--split", "test", "--out", str(out)]) == 0
    assert main(["export-scores", "--checkpoint", str(wrn38_checkpoints.nvidia), "--dataset", "lostandfound",
                 "--root", str(realdata.lostandfound), "--split", "testNoKnown", "--out", str(out)]) == 0
    proc = run_pebal(["export-scores", "--checkpoint", ckpt, "--dataset", "smiyc-obstacle", "--root", "smiyc",
                      "--split", "test", "--out", out], cwd=realdata.root)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.mark.parametrize("split", ["AnomalyTrack-test", "ObstacleTrack-test", "LostAndFound-testNoKnown"])
def test_benchmark_finds_every_exported_frame(realdata, smiyc_export, split):
    out, _ = smiyc_export
    read = benchmark_reads(out, "PEBAL", split, realdata.smiyc, realdata.lostandfound)
    for fid, value in read.items():
        assert value.dtype == np.float16 and value.shape == (64, 128), fid
        assert np.isfinite(value).all() and value.astype(np.float32).std() > 0, fid


def test_validation_frames_are_read_from_the_same_folders(realdata, tmp_path):
    """Validation splits persist under the same names: an export of ``--split validation`` is
    where the benchmark reads AnomalyTrack-validation / ObstacleTrack-validation."""
    from pebal.inference.score_export import benchmark_dataset_name

    for ours, theirs in (("smiyc-anomaly", "AnomalyTrack-validation"), ("smiyc-obstacle", "ObstacleTrack-validation")):
        folder, _ = benchmark_frames(theirs, realdata.smiyc, realdata.lostandfound)
        assert benchmark_dataset_name(ours, "validation") == folder


def test_exported_values_are_the_models_scores(realdata, smiyc_export, wrn38_pebal_checkpoint):
    from pebal.data import open_dataset
    from pebal.inference.score_export import frame_scores
    from pebal.models import load_checkpoint

    out, stdout = smiyc_export
    assert "evaluates these 2 frames as ObstacleTrack-test and reads them from" in stdout
    assert "anomaly_p/PEBAL/ObstacleTrack-all/" in stdout
    model = load_checkpoint(wrn38_pebal_checkpoint)
    item = open_dataset("smiyc-anomaly", realdata.smiyc, split="test")[0]
    expected = frame_scores(model, item["image"])
    with h5py.File(out / "anomaly_p" / "PEBAL" / "AnomalyTrack-all" / f"{item['name']}.hdf5", "r") as f:
        value = f["value"][()]
    np.testing.assert_allclose(value.astype(np.float32), expected.astype(np.float16).astype(np.float32),
                               rtol=0, atol=1e-6)


def test_fishyscapes_export(realdata, wrn38_nvidia_checkpoint, tmp_path, capsys):
    """Both Fishyscapes subsets: default .npy, and 16-bit PNG with its range index."""
    from pebal.inference.score_export import read_png_scores

    ckpt = str(wrn38_nvidia_checkpoint)
    assert main(["export-scores", "--checkpoint", ckpt, "--dataset", "fishyscapes-laf",
                 "--root", str(realdata.fishyscapes), "--out", str(tmp_path / "laf")]) == 0
    assert "wrote 2 score maps (npy)" in capsys.readouterr().out
    assert main(["export-scores", "--checkpoint", ckpt, "--dataset", "fishyscapes-static",
                 "--root", str(realdata.fishyscapes / "Static"), "--out", str(tmp_path / "static"),
                 "--format", "png"]) == 0
    for name in FISHYSCAPES_NAMES["LostAndFound"]:
        scores = np.load(tmp_path / "laf" / f"{name}.npy")
        assert scores.dtype == np.float32 and scores.shape == (64, 128) and np.isfinite(scores).all()
    ranges = json.loads((tmp_path / "static" / "png_ranges.json").read_text())
    assert sorted(ranges) == FISHYSCAPES_NAMES["Static"]
    for name in FISHYSCAPES_NAMES["Static"]:
        back = read_png_scores(tmp_path / "static" / f"{name}.png", tmp_path / "static" / "png_ranges.json", name)
        lo, hi = ranges[name]
        assert back.shape == (64, 128) and lo < hi and back.min() == pytest.approx(lo, abs=1e-4)
