"""Shipped weights and the cache resolve to absolute paths from any working directory."""

from __future__ import annotations

from pathlib import Path

from pebal.config import load_config
from pebal.paths import CACHE_ENV, cache_dir, default_benchmark_root, shipped_weights


def test_shipped_weights_live_in_the_package_and_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = shipped_weights()
    assert path.is_absolute() and path.is_file() and path.parent.name == "weights"
    from pebal.models import load_checkpoint

    assert load_checkpoint(path).num_classes == 19


def test_cache_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir() == (tmp_path / "c").resolve()
    assert default_benchmark_root() == (tmp_path / "c" / "synth-v3").resolve()  # the default benchmark, v3
    assert default_benchmark_root("1") == (tmp_path / "c" / "synth").resolve()  # where v1 always lived


def test_cache_without_the_variable_is_the_platform_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == (tmp_path / "xdg" / "pebal").resolve()


def test_config_defaults_are_absolute_and_independent_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cfg = load_config("embedded")
    assert Path(cfg.checkpoint).is_absolute() and Path(cfg.checkpoint).is_file()
    assert Path(cfg.checkpoint).name == "deeplabv3plus_small_v3.safetensors"
    assert (cfg.data.benchmark_version, cfg.data.root) == ("3", str((tmp_path / "cache" / "synth-v3").resolve()))


def test_embedded_v1_preset_names_the_previous_default(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # set after pebal.config was imported: still counts
    cfg = load_config("embedded-v1")
    assert Path(cfg.checkpoint).name == "deeplabv3plus_small.safetensors" and Path(cfg.checkpoint).is_file()
    assert (cfg.data.benchmark_version, cfg.data.root) == ("1", str((tmp_path / "cache" / "synth").resolve()))
    embedded = load_config("embedded")
    assert (cfg.optim, cfg.loss, cfg.data.max_images) == (embedded.optim, embedded.loss, embedded.data.max_images)


def test_a_benchmark_of_another_version_is_refused_by_name(tmp_path):
    import json

    import pytest

    from pebal.data.synthetic import ensure_benchmark
    from pebal.data.synthetic.cache import SynthCounts
    from pebal.errors import InputError
    from pebal.training.paths import require_paths

    root = ensure_benchmark(tmp_path / "b", size=(64, 128), counts=SynthCounts(2, 1, 2, 1), version="1")
    cfg = load_config("embedded", None, [f"data.root={root}"])
    with pytest.raises(InputError, match=r"is version 1, but the config asks for version 3 \(data.benchmark_version\)"):
        require_paths(cfg)
    require_paths(load_config("embedded", None, [f"data.root={root}", "data.benchmark_version=1"]))
