"""``pebal experiment`` on real data: the paper's recipe unless told otherwise, recorded."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from _tiny_real import cityscapes_tree, coco_tree, road_anomaly_tree
from pebal.cli import main
from pebal.experiments.runner import choose_preset
from pebal.experiments.spec import load_spec


def test_real_data_picks_the_paper_preset_unless_told():
    spec = load_spec("ablation")
    assert spec.preset == "embedded"
    assert choose_preset(spec, None, [], []) == "embedded"
    assert choose_preset(spec, None, [], ["lostandfound:test=/data/laf"]) == "paper"
    assert choose_preset(spec, None, ["data.dataset=cityscapes"], []) == "paper"
    assert choose_preset(spec, "reference", [], ["lostandfound:test=/data/laf"]) == "reference"
    assert choose_preset(spec, "embedded", ["data.dataset=cityscapes"], []) == "embedded"
    # training on an embedded benchmark named on purpose, scored on named test sets: the spec's preset
    assert choose_preset(spec, None, ["data.root=/bench"], ["folder=/bench/test/road-obstacles"]) == "embedded"


@pytest.fixture(scope="module")
def real(tmp_path_factory, untrained_checkpoint):
    root = tmp_path_factory.mktemp("real_experiment")
    cityscapes_tree(root / "cityscapes", counts={"train": 4, "val": 2})
    coco_tree(root / "coco")
    road_anomaly_tree(root / "road_anomaly")
    shutil.copyfile(untrained_checkpoint, root / "pretrained.safetensors")
    spec = {"title": "tiny", "seeds": [0], "preset": "embedded", "row_header": "method",
            "settings": [{"name": "msp", "score": "msp"}, {"name": "pebal", "train": {"loss.method": "pebal"}}]}
    (root / "tiny.yaml").write_text(yaml.safe_dump(spec))
    return root


def _run(real, out, *extra):
    args = ["experiment", str(real / "tiny.yaml"), "--out", str(out), "--bootstrap", "5", "--quiet",
            "--cityscapes", str(real / "cityscapes"), "--coco", str(real / "coco"),
            "--checkpoint", str(real / "pretrained.safetensors"),
            "--test-set", f"road-anomaly={real / 'road_anomaly'}", *extra]
    for pair in ("optim.max_steps=1", "optim.batch_size=2", "data.crop=[32,48]", "tensorboard=false", "threads=1"):
        args += ["--set", pair]
    assert main(args) == 0
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_real_data_experiment_runs_the_paper_preset_and_records_it(real, tmp_path, capsys):
    results = _run(real, tmp_path / "paper")
    assert results["preset"] == "paper" and "preset: paper" in capsys.readouterr().out
    assert json.loads((tmp_path / "paper" / "experiment.json").read_text())["preset"] == "paper"
    run = json.loads((tmp_path / "paper" / "runs" / "pebal" / "seed_0" / "result.json").read_text())
    assert run["preset"] == "paper" and run["config"]["loss"]["variant"] == "paper"
    assert run["config"]["data"]["root"] == str(real / "cityscapes") and run["config"]["optim"]["lr"] == 1e-5
    assert results["test_sets"] == ["road-anomaly"] and [r["setting"] for r in results["rows"]] == ["msp", "pebal"]
    posthoc = json.loads((tmp_path / "paper" / "runs" / "pretrained" / "seed_0" / "result.json").read_text())
    assert posthoc["preset"] == "paper" and posthoc["base_checkpoint"] == str(real / "pretrained.safetensors")
    told = _run(real, tmp_path / "reference", "--preset", "reference")
    run = json.loads((tmp_path / "reference" / "runs" / "pebal" / "seed_0" / "result.json").read_text())
    assert told["preset"] == "reference" and run["config"]["frozen_train_mode"] is True


def test_real_data_experiment_refuses_missing_paths(real, tmp_path, capsys):
    code = main(["experiment", "ablation", "--out", str(tmp_path / "x"), "--quiet",
                 "--test-set", f"road-anomaly={real / 'road_anomaly'}"])
    assert code == 2 and "--cityscapes ROOT" in capsys.readouterr().err
