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
    assert default_benchmark_root() == (tmp_path / "c" / "synth").resolve()


def test_cache_without_the_variable_is_the_platform_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == (tmp_path / "xdg" / "pebal").resolve()


def test_config_defaults_are_absolute_and_independent_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    cfg = load_config("embedded")
    assert Path(cfg.checkpoint).is_absolute() and Path(cfg.checkpoint).is_file()
    assert cfg.data.root == str((tmp_path / "cache" / "synth").resolve())
