"""Experiment specifications: ``configs/experiments/NAME.yaml`` as a typed object.

A spec lists *settings* (rows of a paper table). Each is either post-hoc (a score read from
the pretrained model: no training) or trained (``train``: config overrides of a fine-tuning
run, e.g. ``loss.method: em`` or ``data.outlier_class_fraction: 0.25``), plus the score its
anomaly maps are read with::

    name: ablation
    title: "Table 5: ablation on the loss terms"
    seeds: [0, 1, 2]
    preset: embedded
    set: ["optim.max_steps=600"]          # applied to every training run
    table: anomaly                        # anomaly | efficiency
    row_header: method
    settings:
      - {name: em, train: {loss.method: em}, score: abstention}
      - {name: msp, score: msp}           # post-hoc, pretrained model

Config resolution of a trained setting: preset -> ``set`` -> command-line ``--set`` -> the
setting's ``train`` (which defines the row, so it wins). ``preset`` is the preset on the
embedded benchmark; on real data the runner uses ``paper`` unless told otherwise
(:func:`pebal.experiments.runner.choose_preset`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Where the shipped experiment configs live (the repository's ``configs/experiments``).
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "experiments"
TABLES = ("anomaly", "efficiency")


@dataclass
class Setting:
    name: str
    score: str = "pebal"
    train: dict[str, Any] | None = None  # None: post-hoc on the pretrained model
    label: str | None = None  # the row label in the table (defaults to the name)

    @property
    def trained(self) -> bool:
        return self.train is not None

    def overrides(self) -> list[str]:
        """The ``train`` mapping as ``key=value`` overrides (values YAML-dumped)."""
        return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                for k, v in (self.train or {}).items()]


@dataclass
class ExperimentSpec:
    name: str
    settings: list[Setting]
    title: str = ""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    preset: str = "embedded"  # on the embedded benchmark (real data: see choose_preset)
    set: list[str] = field(default_factory=list)
    table: str = "anomaly"
    row_header: str = "method"
    bootstrap_samples: int = 1000
    bootstrap_seed: int = 0
    mahalanobis_pixels_per_image: int = 1000
    statistics_max_images: int | None = None  # training images for SML / Mahalanobis (None: all)
    eval_batch_size: int = 8
    segmentation: bool = True  # mIoU of every model on the val split
    inference_images: int = 20  # images timed for the efficiency table
    ordering: bool = False  # check the paper's claim that each row improves on the one above (Table 5)
    breakdown: bool = False  # also per anomaly-size bin and shift type, and mIoU under each shift (.breakdown)
    compare: list[list[str]] = field(default_factory=list)  # extra paired comparisons [A, B] (setting names): B - A

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def spec_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, or ``configs/experiments/<name>.yaml``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ValueError(f"unknown experiment {name_or_path!r}: no file {path}; known: {', '.join(known) or 'none'}")
    return path


def load_spec(name_or_path: str | Path) -> ExperimentSpec:
    """Read and check an experiment YAML."""
    path = spec_path(name_or_path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or "settings" not in data:
        raise ValueError(f"experiment file {path} must be a mapping with a 'settings' list")
    known = set(ExperimentSpec.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"experiment file {path}: unknown keys {sorted(unknown)}; valid: {sorted(known)}")
    settings = []
    for i, raw in enumerate(data.pop("settings")):
        if not isinstance(raw, dict) or "name" not in raw:
            raise ValueError(f"experiment file {path}: settings[{i}] must be a mapping with a 'name', got {raw!r}")
        extra = set(raw) - set(Setting.__dataclass_fields__)
        if extra:
            raise ValueError(f"experiment file {path}: settings[{i}] ({raw['name']}) has unknown keys {sorted(extra)}")
        settings.append(Setting(**raw))
    names = [s.name for s in settings]
    if len(set(names)) != len(names) or "pretrained" in names:
        raise ValueError(f"experiment file {path}: setting names must be unique and not 'pretrained', got {names}")
    spec = ExperimentSpec(settings=settings, **{"name": path.stem, **data})
    for pair in spec.compare:
        if not (isinstance(pair, list) and len(pair) == 2 and set(pair) <= set(names)):
            raise ValueError(f"experiment file {path}: compare entries must be [A, B] setting names from {names}, got {pair!r}")
    if spec.table not in TABLES:
        raise ValueError(f"experiment file {path}: table must be one of {TABLES}, got {spec.table!r}")
    return spec
