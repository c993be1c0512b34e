"""Results say which LostAndFound label convention they were measured with."""

from __future__ import annotations

import json

import pytest

from pebal.cli import main
from pebal.data import open_dataset
from pebal.data.registry import describe_dataset


def test_describe_dataset_names_the_convention(realdata):
    desc = describe_dataset(open_dataset("lostandfound", realdata.lostandfound, split="testNoKnown"))
    assert desc == {"type": "LostAndFoundDataset", "root": str(realdata.lostandfound), "split": "testNoKnown",
                    "items": 2, "label_convention": "smiyc"}
    assert describe_dataset(open_dataset("road-anomaly", realdata.road_anomaly))["label_convention"] is None


@pytest.mark.parametrize("name,convention", [("lostandfound", "pebal"), ("lostandfound-smiyc", "smiyc")])
def test_evaluate_results_record_the_convention(realdata, untrained_checkpoint, tmp_path, name, convention):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(untrained_checkpoint), "--dataset", name, "--root",
                 str(realdata.lostandfound), "--split", "test", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["datasets"][name]["label_convention"] == convention
    assert results["datasets"][name]["items"] == 4 and "auroc" in results[name]["pebal"]
