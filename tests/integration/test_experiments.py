"""``pebal experiment``: the ablation on a tiny benchmark (structure, resume), the configs,
the bootstrap's exactness and the EM score."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pebal.cli import main
from pebal.experiments import PerImageCounts, load_spec
from pebal.metrics import pixel_metrics

TINY = ["data.size=[64,128]", "data.max_images=16", "optim.max_steps=2", "optim.batch_size=4", "tensorboard=false",
        "threads=1"]


def test_every_shipped_experiment_config_loads():
    names = {"methods", "ablation", "outlier_diversity", "outlier_size", "efficiency"}
    specs = {name: load_spec(name) for name in names}
    assert [s.name for s in specs["ablation"].settings] == ["em", "ebm", "pal_fixed", "pal_ebm", "pebal"]
    assert [s.train["data.outlier_class_fraction"] for s in specs["outlier_diversity"].settings] == \
        [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 1.0]
    assert [s.train["data.outlier_sample_fraction"] for s in specs["outlier_size"].settings] == \
        [0.05, 0.10, 0.25, 0.50, 1.0]
    posthoc = {s.score for s in specs["methods"].settings if not s.trained}
    assert posthoc == {"msp", "max_logit", "entropy", "energy", "sml", "mahalanobis"}
    assert specs["methods"].settings[6].overrides() == ["loss.method=em"]
    with pytest.raises(ValueError, match="unknown experiment"):
        load_spec("no_such_experiment")


def test_study_configs_load():
    specs = {name: load_spec(name) for name in ("study_budget", "study_loss_variant", "study_smoothing", "study_breakdown")}
    assert {s.train.get("optim.epochs", 1) for s in specs["study_budget"].settings} == {1, 3, 10}
    assert {s.train.get("loss.variant", "reference") for s in specs["study_loss_variant"].settings} == {"reference", "paper"}
    scores = {s.score for s in specs["study_smoothing"].settings}
    assert {"msp", "msp@k3", "msp@k7", "energy", "energy@k3", "energy@k7", "abstention@k7", "pebal"} <= scores
    assert specs["study_breakdown"].breakdown and not specs["study_budget"].breakdown
    assert ["ebm_10ep", "pebal_10ep"] in specs["study_budget"].compare


def test_bootstrap_counts_are_exact():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(5, 12, 16)) * 4).astype(np.float32) / 4  # ties on purpose
    labels = (rng.random((5, 12, 16)) < 0.15).astype(np.uint8)
    labels[1, :4] = 255
    scores[labels == 1] += 1
    state = PerImageCounts()
    state.update(scores[:2], labels[:2])
    state.update(scores[2:], labels[2:])
    expected = pixel_metrics(scores, labels)
    got = state.metrics()
    for key in ("auroc", "ap", "fpr95", "fpr95_reference", "best_f1"):
        assert got[key] == pytest.approx(expected[key], abs=1e-12)
    # a resample = pooling the drawn images' pixels
    weights = np.array([0, 3, 1, 0, 1])
    drawn = np.repeat(np.arange(5), weights)
    from pebal.metrics.pixel import metrics_from_counts

    got = metrics_from_counts(state.counts(weights))
    expected = pixel_metrics(scores[drawn], labels[drawn])
    for key in ("auroc", "ap", "fpr95"):
        assert got[key] == pytest.approx(expected[key], abs=1e-12)
    reps = state.bootstrap(20, seed=3)
    assert reps["ap"].shape == (20,) and np.array_equal(reps["ap"], state.bootstrap(20, seed=3)["ap"])


def test_abstention_score_is_the_softmax_of_channel_y():
    from pebal.scores import get_score

    logits = torch.tensor([1.0, 2.0, 0.5]).reshape(1, 3, 1, 1)
    expected = np.exp(0.5) / (np.exp(1.0) + np.exp(2.0) + np.exp(0.5))
    assert get_score("abstention")(logits, 2).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="needs logits"):
        get_score("abstention")(logits, 3)


@pytest.mark.slow
def test_ablation_runs_and_resumes(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "ablation"
    args = ["experiment", "ablation", "--seeds", "0", "--out", str(out), "--bootstrap", "20", "--quiet",
            "--set", f"data.root={tiny_benchmark}", "--set", f"checkpoint={untrained_checkpoint}"]
    for pair in TINY:
        args += ["--set", pair]
    assert main(args) == 0
    saved = json.loads((out / "results.json").read_text())
    assert [r["setting"] for r in saved["rows"]] == ["em", "ebm", "pal_fixed", "pal_ebm", "pebal"]
    assert saved["seeds"] == [0] and set(saved["test_sets"]) == {"road-obstacles", "anomalies-shifted"}
    for row in saved["rows"]:
        for name in saved["test_sets"]:
            for metric in ("auroc", "ap", "fpr95"):
                entry = row["metrics"][name][metric]
                assert 0.0 <= entry["mean"] <= 1.0 and entry["std"] == 0.0 and len(entry["per_seed"]) == 1
                lo, hi = entry["ci95"]
                assert 0.0 <= lo <= hi <= 1.0
    em = json.loads((out / "runs" / "em" / "seed_0" / "result.json").read_text())
    assert em["config"]["loss"]["method"] == "em" and em["config"]["optim"]["max_steps"] == 2
    assert list(em["scores"]) == ["abstention"]
    assert len(em["scores"]["abstention"]["road-obstacles"]["bootstrap"]["ap"]) == 20
    for f in ("results.md", "results.png", "runs/pebal/seed_0/finetune/model.safetensors"):
        assert (out / f).is_file(), f
    assert "| EM |" in (out / "results.md").read_text()
    assert saved["paper_ordering"]["order"][0] == "EM" and isinstance(saved["paper_ordering"]["holds"], bool)
    # paired comparisons: PEBAL (the last row) against every other row, and each row against the next
    pairs = {(r["a_index"], r["b_index"]) for r in saved["paired"]}
    assert pairs == {(0, 4), (1, 4), (2, 4), (3, 4), (0, 1), (1, 2), (2, 3)}
    for record in saved["paired"]:
        a, b = saved["rows"][record["a_index"]], saved["rows"][record["b_index"]]
        entry = record["sets"]["road-obstacles"]["ap"]
        assert entry["difference"] == pytest.approx(b["metrics"]["road-obstacles"]["ap"]["mean"]
                                                    - a["metrics"]["road-obstacles"]["ap"]["mean"], abs=1e-12)
    step = saved["paper_ordering"]["test_sets"]["road-obstacles"]["ap"]["steps"][0]
    assert step["improves"] == (step["p_value"] < 0.05 and step["change"] > 0)
    assert "Paired differences B − A" in (out / "results.md").read_text()
    assert "Paper ordering (EM → EBM" in (out / "results.md").read_text()

    # the second call recomputes nothing: no training, no evaluation
    import pebal.experiments.runner as runner
    import pebal.training.finetune

    def refuse(*_args, **_kwargs):
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(pebal.training.finetune, "finetune", refuse)
    monkeypatch.setattr(runner, "score_dataset", refuse)
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("result.json")}
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("result.json")} == before
    assert json.loads((out / "results.json").read_text())["rows"] == saved["rows"]


@pytest.mark.slow
def test_settings_that_train_the_same_model_share_one_run(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch):
    """1 % and 5 % of a 12-class pool both keep one class (the same for a seed): one training
    run, whose result the second row reuses; 50 % keeps 6 classes and trains its own."""
    import pebal.training.finetune

    spec = tmp_path / "diversity.yaml"
    spec.write_text("title: tiny diversity\nseeds: [0]\nsegmentation: false\nrow_header: classes\nsettings:\n"
                    "  - {name: c01, train: {data.outlier_class_fraction: 0.01}}\n"
                    "  - {name: c05, train: {data.outlier_class_fraction: 0.05}}\n"
                    "  - {name: c50, train: {data.outlier_class_fraction: 0.5}}\n")
    trained = []
    real_finetune = pebal.training.finetune.finetune

    def counting_finetune(cfg, *args, **kwargs):
        trained.append(cfg.data.outlier_class_fraction)
        return real_finetune(cfg, *args, **kwargs)

    monkeypatch.setattr(pebal.training.finetune, "finetune", counting_finetune)
    out = tmp_path / "out"
    args = ["experiment", str(spec), "--out", str(out), "--bootstrap", "10", "--quiet",
            "--set", f"data.root={tiny_benchmark}", "--set", f"checkpoint={untrained_checkpoint}"]
    for pair in TINY:
        args += ["--set", pair]
    assert main(args) == 0
    assert trained == [0.01, 0.5]
    runs = {name: json.loads((out / "runs" / name / "seed_0" / "result.json").read_text()) for name in ("c01", "c05", "c50")}
    assert runs["c05"]["reused_from"] == "c01" and runs["c05"]["scores"] == runs["c01"]["scores"]
    assert runs["c05"]["config"]["data"]["outlier_class_fraction"] == 0.05
    assert (runs["c01"]["outlier_pool"]["classes"], runs["c50"]["outlier_pool"]["classes"]) == (1, 6)
    assert runs["c01"]["outlier_pool"]["samples"] < runs["c50"]["outlier_pool"]["samples"]
    table = (out / "results.md").read_text()
    assert "OE classes / samples" in table and "| c50 | 6 / " in table

    # another experiment beside it reuses the same training (scored the same way) instead of training again
    other = tmp_path / "sizes.yaml"
    other.write_text("seeds: [0]\nsegmentation: false\nsettings:\n"
                     "  - {name: all, train: {data.outlier_sample_fraction: 1.0, data.outlier_class_fraction: 0.5}}\n"
                     "  - {name: em, train: {loss.method: em}, score: abstention}\n")
    args[1], args[3] = str(other), str(tmp_path / "sizes")
    trained.clear()
    assert main(args) == 0
    assert trained == [1.0]  # only EM trains
    reused = json.loads((tmp_path / "sizes" / "runs" / "all" / "seed_0" / "result.json").read_text())
    assert reused["reused_from"] == "out/c50" and reused["scores"] == runs["c50"]["scores"]

    # measured on other test sets: no result to reuse, but the trained checkpoints are (training
    # does not depend on the test sets): evaluated again, trained never
    trained.clear()
    args[3] = str(tmp_path / "sizes_named")
    assert main([*args, "--test-set", f"folder={tiny_benchmark / 'test' / 'road-obstacles'}"]) == 0
    assert trained == []
    for name in ("all", "em"):
        named = json.loads((tmp_path / "sizes_named" / "runs" / name / "seed_0" / "result.json").read_text())
        assert "reused_from" not in named and named["evaluation"]["test_set_roots"]
        assert list(named["scores"][next(iter(named["scores"]))]) == ["folder"]


def test_experiment_on_named_test_sets(tiny_benchmark, untrained_checkpoint, tmp_path):
    """Real benchmarks are named NAME[:SPLIT]=ROOT; here a folder-layout copy of a tiny test set."""
    spec = tmp_path / "posthoc.yaml"
    spec.write_text("seeds: [0]\nsegmentation: false\nsettings:\n  - {name: msp, score: msp}\n  - {name: energy, score: energy}\n")
    out = tmp_path / "out"
    args = ["experiment", str(spec), "--out", str(out), "--bootstrap", "10", "--quiet",
            "--test-set", f"folder={tiny_benchmark / 'test' / 'road-obstacles'}",
            "--set", f"data.root={tiny_benchmark}", "--set", f"checkpoint={untrained_checkpoint}"]
    assert main(args) == 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["test_sets"] == ["folder"] and [r["setting"] for r in saved["rows"]] == ["msp", "energy"]
    assert 0.0 <= saved["rows"][0]["metrics"]["folder"]["ap"]["mean"] <= 1.0
    assert json.loads((out / "experiment.json").read_text())["test_sets"] == [args[8]]


def test_experiment_test_set_errors(tiny_benchmark, untrained_checkpoint, tmp_path):
    from pebal.experiments import run_experiment
    from pebal.experiments.runner import parse_test_set

    assert parse_test_set("lostandfound:test=/data/laf") == ("lostandfound", "/data/laf", "test")
    assert parse_test_set("road-anomaly=/x=y") == ("road-anomaly", "/x=y", None)
    with pytest.raises(ValueError, match="NAME=ROOT"):
        parse_test_set("lostandfound")
    with pytest.raises(ValueError, match="--test-set"):
        run_experiment("ablation", out=tmp_path / "o", overrides=["data.dataset=cityscapes", f"data.root={tmp_path}"],
                       log=None)


@pytest.mark.slow
def test_breakdown_smoothing_and_checkpoint_reuse(tiny_benchmark, untrained_checkpoint, tmp_path, monkeypatch):
    """Views per size bin and shift type, smoothed scores, extra comparisons, and a trained row
    scored differently from a finished identical run: its checkpoint is evaluated, not retrained."""
    import pebal.training.finetune

    first = tmp_path / "a.yaml"
    first.write_text("seeds: [0]\nsegmentation: false\nsettings:\n  - {name: pebal, train: {loss.method: pebal}}\n")
    args = ["experiment", str(first), "--out", str(tmp_path / "a"), "--bootstrap", "10", "--quiet",
            "--set", f"data.root={tiny_benchmark}", "--set", f"checkpoint={untrained_checkpoint}"]
    for pair in TINY:
        args += ["--set", pair]
    assert main(args) == 0

    spec = tmp_path / "b.yaml"
    spec.write_text("seeds: [0]\nsegmentation: false\nbreakdown: true\nsettings:\n"
                    "  - {name: energy, score: energy}\n  - {name: energy_k3, score: energy@k3}\n"
                    "  - {name: pebal_k1, train: {loss.method: pebal}, score: energy}\n"
                    "  - {name: pebal, train: {loss.method: pebal}, score: pebal}\n"
                    "compare:\n  - [energy, energy_k3]\n")

    def refuse(*_args, **_kwargs):
        raise AssertionError("an identical training run was repeated")

    monkeypatch.setattr(pebal.training.finetune, "finetune", refuse)
    args[1], args[3] = str(spec), str(tmp_path / "b")
    assert main(args) == 0
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    views = [s for s in saved["test_sets"] if " | " in s]
    assert any(v.startswith("road-obstacles | ") and v.endswith(" px") for v in views)
    shifts = {v.split(" | ")[1] for v in views if v.startswith("anomalies-shifted")} - {"<64 px", "64-255 px", ">=256 px"}
    assert shifts and shifts <= {"dusk", "night", "fog", "rain", "snow"}
    assert set(saved["shift_miou"]) == {"none", "dusk", "night", "fog", "rain", "snow"}
    rows = {r["setting"]: r for r in saved["rows"]}
    # PEBAL's score is energy@k7 on the same checkpoint; k1 differs from it
    assert rows["pebal"]["metrics"]["road-obstacles"]["ap"]["mean"] != rows["pebal_k1"]["metrics"]["road-obstacles"]["ap"]["mean"]
    assert [(r["a"], r["b"], r["kind"]) for r in saved["paired"]][-1] == ("energy", "energy_k3", "extra")
    text = (tmp_path / "b" / "results.md").read_text()
    assert "per anomaly size" in text and "under each shift" in text


def test_size_bins_keep_only_their_components():
    from pebal.experiments.breakdown import keep_component_sizes

    label = np.zeros((10, 20), np.uint8)
    label[1:3, 1:3] = 1  # 4 px
    label[5:9, 10:19] = 1  # 36 px
    label[0, 19] = 255
    small = keep_component_sizes(label, 0, 10)
    assert (small == 1).sum() == 4 and (small == 255).sum() == 37 and (small == 0).sum() == (label == 0).sum()
    large = keep_component_sizes(label, 10, None)
    assert (large == 1).sum() == 36 and (large[1:3, 1:3] == 255).all()
