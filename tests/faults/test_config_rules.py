"""Config validation: every field has a rule, the defaults and presets pass, each rule refuses
a value outside it with the key, the allowed range and the value found."""

from __future__ import annotations

import dataclasses

import pytest

from pebal.config import PRESETS, TrainConfig, load_config
from pebal.config_validation import LOSS_METHODS, OUTLIER_SOURCES, RULES, flatten, validate_config
from pebal.errors import ConfigError

#: key -> a value its rule must refuse (type, range or allowed values).
BAD = {
    "preset": "", "checkpoint": "", "out": " ", "seed": -1, "threads": 0, "frozen_train_mode": "yes",
    "checkpoint_every": 0, "log_every": -5, "tensorboard": 1, "progress": None,
    "data.dataset": "", "data.root": "", "data.split": "", "data.max_images": 0, "data.benchmark_seed": 2**40, "data.benchmark_version": "4",
    "data.size": (1, 2, 3), "data.outlier_source": "imagenet", "data.outlier_root": "",
    "data.outlier_class_fraction": 0.0, "data.outlier_sample_fraction": 1.5, "data.mix_probability": -0.1,
    "data.mix_scale_range": (0.5,), "data.mix_placement": "anywhere", "data.flip_probability": float("nan"),
    "data.scales": (), "data.crop": (0, 10), "data.num_workers": -1, "data.scale_range": (2.0, -1.0),
    "data.extra_mixed_fraction": -0.1,
    "loss.method": "123", "loss.variant": "both", "loss.margins": "manual", "loss.m_in": float("inf"),
    "loss.m_out": "x", "loss.auto_in_quantile": 1.0, "loss.auto_out_quantile": 0.0, "loss.energy_weight": -1.0,
    "optim.lr": float("nan"), "optim.batch_size": 0, "optim.epochs": -1, "optim.max_steps": 0,
    "optim.poly_power": -0.5,
}


def _set(cfg, key, value):
    *sections, leaf = key.split(".")
    node = cfg
    for section in sections:
        node = getattr(node, section)
    setattr(node, leaf, value)


def test_every_field_has_a_rule_and_a_refused_value():
    keys = set(flatten(TrainConfig()))
    assert keys == set(RULES), f"fields without a rule: {sorted(keys - set(RULES))}; rules without a field: " \
                               f"{sorted(set(RULES) - keys)}"
    assert set(BAD) == keys


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_defaults_and_presets_pass(preset):
    validate_config(TrainConfig())
    validate_config(load_config(preset))


@pytest.mark.parametrize("key", sorted(BAD))
def test_each_rule_refuses_its_bad_value_naming_key_range_and_value(key):
    cfg = TrainConfig()
    _set(cfg, key, BAD[key])
    with pytest.raises(ConfigError) as caught:
        validate_config(cfg)
    error = caught.value
    assert error.key == key and error.expected == RULES[key].expected
    assert str(error).startswith(f"config key {key}: expected {RULES[key].expected}, found {BAD[key]!r}")


def test_all_problems_are_reported_at_once_and_relations_are_checked():
    cfg = TrainConfig()
    cfg.optim.epochs, cfg.seed = 0, -2
    with pytest.raises(ConfigError, match=r"config key seed: expected an integer in \[0, 4294967295\], found -2; config key optim.epochs") as caught:
        validate_config(cfg)
    assert [p.key for p in caught.value.problems] == ["seed", "optim.epochs"]
    cfg = TrainConfig()
    cfg.loss.m_in, cfg.loss.m_out = -3.0, -6.0
    with pytest.raises(ConfigError, match="m_in < m_out"):
        validate_config(cfg)
    cfg.loss.margins = "auto"  # the fixed margins are unused then
    validate_config(cfg)


def test_allowed_values_are_those_of_the_code():
    from pebal.losses import METHODS
    from pebal.training.training_set import OUTLIER_SOURCES as SOURCES

    assert set(LOSS_METHODS) == {*METHODS, "em"}
    assert OUTLIER_SOURCES == SOURCES


def test_load_config_validates_yaml_and_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("optim:\n  batch_size: -4\n")
    with pytest.raises(ConfigError, match=r"config key optim.batch_size: expected an integer >= 1, found -4 "
                                          r"\(with config file .*c.yaml\)"):
        load_config("embedded", config)
    with pytest.raises(ConfigError, match="config key data.size"):
        load_config("embedded", None, ["data.size=[1,2,3]"])
    assert dataclasses.is_dataclass(load_config("embedded", None, ["optim.max_steps=3"]))


#: PretrainConfig field -> a value its rule must refuse.
PRETRAIN_BAD = {
    "data_root": "", "data_seed": -1, "data_version": "v3", "size": (32, 64), "output": "", "architecture": "", "num_classes": 0,
    "model_kwargs": [], "seed": 2**40, "steps": 0, "time_budget_s": 0.0, "batch_size": -2, "lr": 0.0,
    "weight_decay": float("nan"), "warmup_steps": -1, "poly_power": -1.0, "scale_range": (1.5,),
    "crop_size": (0, 5), "colour_jitter": 2.0, "class_weight_power": -0.5, "max_class_weight": 0.5,
    "ohem_fraction": 0.0, "threads": 0, "eval_every": -1, "log_every": 0, "max_train_images": 0,
    "max_val_images": -3, "init_checkpoint": "",
}


def test_every_pretrain_field_has_a_rule_and_each_refuses_its_bad_value():
    from pebal.config_validation import PRETRAIN_RULES
    from pebal.training.pretrain import PretrainConfig

    fields = {f.name for f in dataclasses.fields(PretrainConfig)}
    assert fields == set(PRETRAIN_RULES) == set(PRETRAIN_BAD)
    PretrainConfig()  # the defaults pass
    for key, value in PRETRAIN_BAD.items():
        with pytest.raises(ConfigError) as info:
            PretrainConfig(**{key: value})
        assert f"config key {key}: expected" in str(info.value) and repr(value)[:4] in str(info.value), key
    with pytest.raises(ConfigError, match="scale_range: expected low <= high"):
        PretrainConfig(scale_range=(2.0, 1.0))


def test_benchmark_versions_are_those_of_the_generator():
    from pebal.config_validation import BENCHMARK_VERSIONS
    from pebal.data.synthetic.scene import TEST_SETS_BY_VERSION
    from pebal.paths import SHIPPED_MODELS

    assert BENCHMARK_VERSIONS == tuple(TEST_SETS_BY_VERSION) == tuple(SHIPPED_MODELS)
