"""``pebal export-scores`` end to end: a saved checkpoint, a SMIYC-layout folder, HDF5 out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pebal.cli import main
from pebal.data.image_io import write_jpeg
from pebal.models import create_model, save_checkpoint


def test_export_scores_command(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    net = create_model("deeplabv3plus_small", num_classes=20, generator=torch.Generator().manual_seed(0))
    ckpt = save_checkpoint(tmp_path / "model.safetensors", net, architecture="deeplabv3plus_small",
                           num_classes=19, abstention=True)
    rng = np.random.default_rng(0)
    track = tmp_path / "data" / "dataset_AnomalyTrack"
    for name in ("alpha", "beta"):
        write_jpeg(track / "images" / f"{name}.jpg", rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    (track / "labels_masks").mkdir()
    out = tmp_path / "out"
    code = main(["export-scores", "--checkpoint", str(ckpt), "--dataset", "smiyc-anomaly",
                 "--root", str(tmp_path / "data"), "--split", "test", "--out", str(out),
                 "--method", "MyPEBAL"])
    assert code == 0
    assert "wrote 2 score maps (smiyc)" in capsys.readouterr().out
    for name in ("alpha", "beta"):
        with h5py.File(out / "anomaly_p" / "MyPEBAL" / "AnomalyTrack-all" / f"{name}.hdf5", "r") as f:
            value = f["value"][()]
        assert value.dtype == np.float16 and value.shape == (64, 96) and np.isfinite(value).all()
