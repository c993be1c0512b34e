"""`pebal info` names everything a user can pass on the command line."""

from __future__ import annotations

from pebal.cli import main
from pebal.config import PRESETS
from pebal.data import list_datasets
from pebal.models import list_models


def test_info_lists_datasets_models_presets_and_scores(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in [*list_datasets(), *list_models(), *PRESETS, "msp", "max_logit", "energy", "sml", "mahalanobis"]:
        assert name in out, name
    assert "PEBAL_CACHE_DIR" in out and "deeplabv3plus_small_v3.safetensors" in out  # the default model
    assert "deeplabv3plus_small.safetensors" in out and "embedded-v1" in out  # v1's, by name
