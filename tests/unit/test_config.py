import pytest
import yaml

from pebal.config import load_config, save_config


def test_presets_carry_the_papers_and_the_references_settings():
    paper = load_config("paper")
    assert (paper.optim.lr, paper.optim.batch_size, paper.optim.epochs) == (1e-5, 16, 20)
    assert paper.loss.variant == "paper" and not paper.frozen_train_mode
    ref = load_config("reference")
    assert (ref.optim.batch_size, ref.optim.epochs, ref.data.crop) == (8, 40, (900, 900))
    assert ref.data.flip_probability == 0.8 and ref.frozen_train_mode
    assert ref.loss.m_in == -12.0 and ref.loss.m_out == -6.0


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

