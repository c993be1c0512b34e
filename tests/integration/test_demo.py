"""``pebal demo`` and ``pebal evaluate`` end to end on a tiny benchmark and an untrained model."""

from __future__ import annotations

import json

import pytest

from pebal.cli import main
from pebal.data.synthetic.cache import SynthCounts

TINY = ["data.size=[64,128]", "data.max_images=16", "optim.max_steps=3", "optim.batch_size=4", "tensorboard=false",
        "threads=1"]


@pytest.mark.slow
def test_demo_writes_the_report_folder(tiny_benchmark, untrained_checkpoint, tmp_path):
    from pebal.evaluation.demo import run_demo

    out = tmp_path / "demo"
    results = run_demo(out, overrides=[f"data.root={tiny_benchmark}", f"checkpoint={untrained_checkpoint}", *TINY],
                       bn_control_steps=2, progress=False,
                       benchmark_counts=SynthCounts(train=16, val=4, outlier_exposure=12, test=4))
    saved = json.loads((out / "results.json").read_text())
    for name in ("road-obstacles", "anomalies-shifted"):
        for method in ("pebal", "msp", "max_logit", "entropy", "energy", "bn_control"):
            assert set(saved[name][method]) >= {"auroc", "ap", "fpr95"}
            assert 0.0 <= saved[name][method]["ap"] <= 1.0
        # max logit and energy differ only by the logsumexp's soft maximum: close, not equal
        assert saved[name]["max_logit"]["auroc"] == pytest.approx(saved[name]["energy"]["auroc"], abs=0.05)
    assert set(saved["miou"]) == {"pretrained", "finetuned", "bn_control"}
    assert saved["config"]["optim"]["max_steps"] == 3 and saved["timings"]["total"] > 0
    assert results["checks"]["road-obstacles"].keys() >= {"ap_beats_all_baselines", "fpr95_beats_all_baselines"}
    for f in ("results.md", "examples.png", "curves_road-obstacles.png", "finetune/config.yaml",
              "finetune/model.safetensors"):
        assert (out / f).is_file(), f

    # the same fine-tuned checkpoint through `pebal evaluate`
    code = main(["evaluate", "--checkpoint", str(out / "finetune" / "model.safetensors"), "--root", str(tiny_benchmark),
                 "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 0
    again = json.loads((tmp_path / "eval" / "results.json").read_text())
    for name in ("road-obstacles", "anomalies-shifted"):
        for method in ("pebal", "msp"):
            assert again[name][method]["ap"] == saved[name][method]["ap"]
    assert again["miou"]["finetuned"]["miou"] == saved["miou"]["finetuned"]["miou"]
    # PEBAL vs every baseline, paired over the same test images: B − A = pebal − baseline
    assert [(r["a"], r["b"]) for r in again["paired"]] == [(m, "pebal") for m in ("msp", "max_logit", "entropy", "energy")]
    for record in again["paired"]:
        entry = record["sets"]["road-obstacles"]["ap"]
        assert entry["difference"] == pytest.approx(saved["road-obstacles"]["pebal"]["ap"]
                                                    - saved["road-obstacles"][record["a"]]["ap"], abs=1e-12)
        assert 0.0 <= entry["p_value"] <= 1.0
    assert "PEBAL − each baseline, paired" in (tmp_path / "eval" / "results.md").read_text()
