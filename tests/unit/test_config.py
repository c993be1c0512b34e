import pytest
import yaml

from pebal.config import load_config, save_config


def test_presets_carry_the_papers_and_the_references_settings():
    paper = load_config("paper")
    assert (paper.optim.lr, paper.optim.batch_size, paper.optim.epochs) == (1e-5, 16, 20)
    assert paper.loss.variant == "paper" and not paper.frozen_train_mode
    # random crops as NVIDIA's Cityscapes recipe for the WideResNet38: 896, scale U(0.5, 2.0), flip 0.5
    assert paper.data.crop == (896, 896) and paper.data.scale_range == (0.5, 2.0)
    assert paper.data.flip_probability == 0.5
    ref = load_config("reference")
    assert (ref.optim.batch_size, ref.optim.epochs, ref.data.crop) == (8, 40, (900, 900))
    assert ref.data.flip_probability == 0.8 and ref.frozen_train_mode
    assert ref.data.scales == (0.5, 0.75, 1.0, 1.5, 1.75, 2.0) and ref.data.scale_range is None
    assert ref.loss.m_in == -12.0 and ref.loss.m_out == -6.0
    for cfg in (paper, ref):  # real data, paths left to the user; 2975 + 297 mixed samples per epoch
        assert (cfg.data.dataset, cfg.data.outlier_source) == ("cityscapes", "coco")
        assert cfg.data.root is None and cfg.data.outlier_root is None and cfg.checkpoint is None
        assert cfg.data.mix_probability == 0.0 and cfg.data.extra_mixed_fraction == 0.1
        assert cfg.optim.lr == 1e-5 and cfg.loss.margins == "fixed"


def test_extra_mixed_samples_follow_the_reference_count():
    from pebal.training.training_set import extra_mixed_count

    assert extra_mixed_count(0.1, 2975) == 297  # int(0.1 * 2975), the reference's proxy_size
    assert extra_mixed_count(0.1, 4) == 1 and extra_mixed_count(0.0, 2975) == 0


def test_yaml_then_flags_override_and_types_are_coerced(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"optim": {"lr": "1e-4", "epochs": 3}, "data": {"crop": [64, 128]}}))
    cfg = load_config("reference", f, ["optim.lr=1e-3", "seed=7", "loss.margins=auto"])
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.epochs == 3 and cfg.data.crop == (64, 128) and cfg.seed == 7
    assert cfg.loss.margins == "auto" and cfg.optim.batch_size == 8  # untouched preset value
    save_config(cfg, tmp_path / "out" / "config.yaml")
    saved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 1e-3 and saved["preset"] == "reference"


def test_bad_overrides_are_named():
    with pytest.raises(ValueError, match="unknown config key 'optim.lrr'"):
        load_config("paper", None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="optim.epochs"):
        load_config("paper", None, ["optim.epochs=1.5"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config("paper", None, ["optim.lr"])
    with pytest.raises(ValueError, match="valid: paper"):
        load_config("nope")



def test_augment_scale_range_and_the_batching_check():
    import numpy as np

    from pebal.data.augment import SegmentationAugment, check_batchable

    augment = SegmentationAugment(0.0, scale_range=(0.5, 2.0), crop=(8, 12))
    draws = [augment.draw_scale(np.random.default_rng(i)) for i in range(200)]
    assert 0.5 <= min(draws) < 0.6 and 1.9 < max(draws) <= 2.0 and len(set(draws)) == 200
    item = {"image": np.zeros((20, 30, 3), np.uint8), "label": np.ones((20, 30), np.uint8), "name": "x"}
    out = augment(item, np.random.default_rng(0))
    assert out["image"].shape == (8, 12, 3) and out["label"].shape == (8, 12)
    check_batchable(augment, 16)  # crops: one size
    check_batchable(SegmentationAugment(scales=(0.5, 1.0)), 1)
    check_batchable(SegmentationAugment(scales=(1.0,)), 16)
    with pytest.raises(ValueError, match=r"data\.crop"):
        check_batchable(SegmentationAugment(scales=(0.5, 1.0)), 2)
    with pytest.raises(ValueError, match=r"data\.crop"):
        check_batchable(SegmentationAugment(scale_range=(0.5, 2.0)), 2)


def test_a_leading_tilde_in_the_checkpoint_data_roots_and_run_folder_means_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config("embedded", None, ["data.root=~/synth-v2", "checkpoint=~/m.safetensors", "out=~/runs"])
    assert cfg.data.root == str(tmp_path / "synth-v2") and cfg.checkpoint == str(tmp_path / "m.safetensors")
    assert cfg.out == str(tmp_path / "runs")  # never a folder literally named "~"
