"""Typed fine-tuning configuration with the ``paper``, ``reference`` and ``embedded`` presets.

Resolution order: preset -> YAML file -> ``--set section.key=value`` flags. The resolved
config is saved next to every run (``config.yaml``) and inside every checkpoint.

Presets (values from ``spec/pebal-method.md``):

* ``paper``     — paper §4.2: Adam lr 1e-5, batch 16, 20 epochs, the paper's loss
  formulation, frozen part in eval mode; random crops "as the backbone's own recipe":
  NVIDIA's Cityscapes recipe for the WideResNet38 DeepLabv3+ (``crop_size 896``, scale
  uniform in [0.5, 2.0], flip 0.5), so 896x896 crops of a frame rescaled by U(0.5, 2.0);
  AnomalyMix as the reference runs it (below).
* ``reference`` — the public implementation: batch 8, 40 epochs, its loss formulation,
  flip 0.8, scales {0.5 .. 2}, 900x900 crops, frozen part in train mode (batch-norm drift),
  each epoch = the Cityscapes images + 10% more samples (297 of 2975), each a random
  Cityscapes image with one COCO object pasted.
* ``embedded``  — the default of ``pebal demo``: the reference loss on the embedded
  benchmark, sized for two CPU cores: full 128x256 frames, one epoch over the first 1,000
  training images (125 steps of batch 8), AnomalyMix on half of them. Two departures from
  the paper, both measured (README, ``benchmarks/bench_demo.py``): the learning rate is
  1e-4, because the schedule is 30-130x shorter than the paper's or the reference's
  (4,000-16,000 steps); the margins are ``auto`` (derived from the pretrained model's inlier
  energies, see :mod:`pebal.training.margins`), because -12 / -6 belong to the paper's
  backbone's energy scale. With ``loss.margins=fixed`` the paper's margins are used.
  Embedded benchmark v3 (``data.benchmark_version``; in ``<cache>/synth-v3``) with its shipped
  model (``deeplabv3plus_small_v3.safetensors``).
* ``embedded-v1`` — ``embedded`` on benchmark v1 (``<cache>/synth``) with v1's shipped model
  (``deeplabv3plus_small.safetensors``): the default before v3, reproducible by name.

``paper`` and ``reference`` train on real data and name none: Cityscapes (``data.root``),
COCO (``data.outlier_root``) and the pretrained checkpoint (``checkpoint``) must be given
(``pebal train --cityscapes ROOT --coco ROOT --checkpoint FILE``);
:func:`pebal.training.paths.require_paths` refuses a run that lacks one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pebal.paths import DEFAULT_BENCHMARK_VERSION, SHIPPED_MODEL, SHIPPED_MODELS, default_benchmark_root, weights_dir


@dataclass
class DataConfig:
    dataset: str = "synthetic-inlier"  # registry name of the inlier training set
    # its root: the embedded benchmark in the user's cache folder by default (pebal.paths); None: must be given
    root: str | None = field(default_factory=lambda: str(default_benchmark_root()))
    split: str = "train"
    max_images: int | None = None  # use the first N training images
    benchmark_seed: int = 0  # embedded benchmark generation (ignored for real data)
    benchmark_version: str = DEFAULT_BENCHMARK_VERSION  # embedded benchmark version "1" | "2" | "3" (ignored for real data)
    size: tuple[int, int] = (128, 256)
    outlier_source: str = "embedded"  # embedded | meta-ood | coco | rgba-folder
    outlier_root: str | None = None  # defaults to the embedded benchmark's family
    outlier_class_fraction: float = 1.0  # paper Table 6
    outlier_sample_fraction: float = 1.0  # paper Table 7
    mix_probability: float = 0.5  # chance that a training image receives an outlier
    mix_scale_range: tuple[float, float] | None = None  # the reference does not rescale
    mix_placement: str = "uniform"  # uniform | drivable
    extra_mixed_fraction: float = 0.0  # extra always-mixed samples per epoch, x the inlier images (reference 0.1)
    flip_probability: float = 0.5
    scales: tuple[float, ...] = (1.0,)  # random scale drawn from this set ...
    scale_range: tuple[float, float] | None = None  # ... or uniformly from [low, high] (replaces scales)
    crop: tuple[int, int] | None = None  # (height, width); None: full frames (then batches need equal sizes)
    num_workers: int = 0


@dataclass
class LossConfig:
    method: str = "pebal"  # pebal | pal_ebm | pal_fixed | ebm | em
    variant: str = "reference"  # reference | paper
    margins: str = "fixed"  # fixed (m_in, m_out below) | auto (from the pretrained energies)
    m_in: float = -12.0
    m_out: float = -6.0
    auto_in_quantile: float = 0.5
    auto_out_quantile: float = 0.999
    energy_weight: float = 0.1


@dataclass
class OptimConfig:
    lr: float = 1e-5
    batch_size: int = 8
    epochs: int = 1
    max_steps: int | None = None  # caps the schedule (and the run) at this many steps
    poly_power: float = 0.9


@dataclass
class TrainConfig:
    preset: str = "embedded"
    # the pretrained model: the shipped small DeepLabv3+ inside the installed package; None: must be given
    checkpoint: str | None = field(default_factory=lambda: str(weights_dir() / SHIPPED_MODEL))
    out: str = "runs/finetune"
    seed: int = 0
    threads: int | None = None
    frozen_train_mode: bool = False  # reference: True (frozen batch norm drifts)
    checkpoint_every: int = 100  # steps
    log_every: int = 10
    tensorboard: bool = True
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: What the real-data presets train on; the paths themselves are the user's (None: must be given).
_REAL_DATA = {"dataset": "cityscapes", "root": None, "split": "train", "outlier_source": "coco", "outlier_root": None,
              "mix_probability": 0.0, "extra_mixed_fraction": 0.1, "mix_scale_range": None, "mix_placement": "uniform"}

_EMBEDDED = {
    "data": {"max_images": 1000, "mix_probability": 0.5},
    "loss": {"variant": "reference", "margins": "auto"},
    "optim": {"lr": 1e-4, "batch_size": 8, "epochs": 1},
}

#: Each preset's values; a zero-argument callable is a value computed when a config is built.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "checkpoint": None,
        "frozen_train_mode": False,
        "data": {**_REAL_DATA, "flip_probability": 0.5, "scale_range": (0.5, 2.0), "crop": (896, 896)},
        "loss": {"variant": "paper"},
        "optim": {"lr": 1e-5, "batch_size": 16, "epochs": 20},
    },
    "reference": {
        "checkpoint": None,
        "frozen_train_mode": True,
        "data": {
            **_REAL_DATA,
            "flip_probability": 0.8,
            "scales": (0.5, 0.75, 1.0, 1.5, 1.75, 2.0),
            "crop": (900, 900),
        },
        "loss": {"variant": "reference"},
        "optim": {"lr": 1e-5, "batch_size": 8, "epochs": 40},
    },
    "embedded": _EMBEDDED,
    # the previous default, by name: benchmark v1 in <cache>/synth with v1's shipped model (resolved when
    # the config is built, so that PEBAL_CACHE_DIR set later still counts)
    "embedded-v1": {**_EMBEDDED, "checkpoint": lambda: str(weights_dir() / SHIPPED_MODELS["1"]),
                    "data": {**_EMBEDDED["data"], "benchmark_version": "1", "root": lambda: str(default_benchmark_root("1"))}},
}

#: Presets that train on real data (Cityscapes + COCO) and need their paths.
REAL_DATA_PRESETS = ("paper", "reference")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a YAML / command-line value to the field's declared type (``1e-3`` -> float)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(value, option, where)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(f"config key {where}: {value!r} fits none of {options}: {'; '.join(errors)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {where} expects a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, where) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"config key {where} expects true/false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"config key {where} expects a number, got {value!r}")
        number = hint(value)
        if hint is int and float(value) != number:
            raise ValueError(f"config key {where} expects an integer, got {value!r}")
        return number
    if hint is str:
        return str(value)
    return value


def _merge(obj: Any, updates: dict[str, Any], where: str = "") -> Any:
    """Apply nested ``updates`` to dataclass ``obj``, refusing unknown keys, coercing types."""
    names = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    for key, value in updates.items():
        if key not in names:
            raise ValueError(f"unknown config key '{where}{key}'; valid keys: {', '.join(sorted(names))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"config key {where}{key} is a section; expected a mapping, got {value!r}")
            _merge(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, hints[key], f"{where}{key}"))
    return obj


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "data.crop=[64,128]"]`` -> nested dict; values are YAML-parsed."""
    updates: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"override {pair!r} must look like section.key=value")
        dotted, raw = pair.split("=", 1)
        node = updates
        *parents, leaf = dotted.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return updates


def load_config(preset: str = "embedded", yaml_file: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Resolve a config: preset, then the YAML file, then ``section.key=value`` overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    cfg = _merge(TrainConfig(preset=preset), _computed(PRESETS[preset]))
    if yaml_file is not None:
        data = yaml.safe_load(Path(yaml_file).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"config file {yaml_file} must hold a mapping, found {type(data).__name__}")
        data.pop("preset", None)
        _merge(cfg, data)
    from pebal.config_validation import validate_config

    cfg = _expand_home(_merge(cfg, parse_overrides(list(overrides))))
    return validate_config(cfg, source=None if yaml_file is None else str(yaml_file))


def _computed(values: dict[str, Any]) -> dict[str, Any]:
    """A preset's values with its callables called (paths that depend on the environment)."""
    return {k: _computed(v) if isinstance(v, dict) else (v() if callable(v) else v) for k, v in values.items()}


def _expand_home(cfg: TrainConfig) -> TrainConfig:
    """``~`` at the start of the checkpoint, a data root or the run folder means the user's home
    (as in a shell; a YAML file or a quoted ``--set`` value is not expanded by the shell)."""
    def expand(path: str | None) -> str | None:
        return str(Path(path).expanduser()) if isinstance(path, str) and path.startswith("~") else path

    cfg.checkpoint = expand(cfg.checkpoint)
    cfg.out = expand(cfg.out)
    cfg.data.root = expand(cfg.data.root)
    cfg.data.outlier_root = expand(cfg.data.outlier_root)
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    from pebal.atomic import write_atomically

    def _write(tmp: str) -> None:
        Path(tmp).write_text(yaml.safe_dump(_plain(cfg.to_dict()), sort_keys=False))

    write_atomically(path, _write)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
