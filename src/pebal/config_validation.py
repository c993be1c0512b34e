"""Validation of a resolved :class:`pebal.config.TrainConfig`: type, range and allowed values
of every field, checked when the config is built (``load_config``) and again when a run
starts (``finetune``), so a bad value fails before any file is written.

Every field has a rule in :data:`RULES` (a test keeps it so); a few relations between fields
are in :data:`RELATIONS`. All problems are reported at once in one
:class:`~pebal.errors.ConfigError` whose message names each key, the allowed values or range,
and the value found, e.g. ``config key optim.epochs: expected an integer >= 1, found -1``.

This module imports nothing from :mod:`pebal.config` (which calls it), so the allowed values
of the loss and the outlier sources are listed here; tests check them against
:data:`pebal.losses.METHODS` and :data:`pebal.training.training_set.OUTLIER_SOURCES`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pebal.errors import ConfigError

LOSS_METHODS = ("pebal", "pal_ebm", "pal_fixed", "ebm", "em")
LOSS_VARIANTS = ("reference", "paper")
MARGIN_MODES = ("fixed", "auto")
OUTLIER_SOURCES = ("embedded", "meta-ood", "coco", "rgba-folder")
MIX_PLACEMENTS = ("uniform", "drivable")
BENCHMARK_VERSIONS = ("1", "2", "3")  # pebal.data.synthetic.scene.TEST_SETS_BY_VERSION (a test checks)
#: numpy's legacy seeding and many tools take 32-bit seeds
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Rule:
    """``check(value) -> bool``; ``expected`` says what is allowed, for the error message."""

    check: Callable[[Any], bool]
    expected: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def integer(low: int | None = None, high: int | None = None, optional: bool = False) -> Rule:
    if low is not None and high is not None:
        bounds = f" in [{low}, {high}]"
    else:
        bounds = f" >= {low}" if low is not None else (f" <= {high}" if high is not None else "")
    expected = ("null or " if optional else "") + "an integer" + bounds
    return Rule(lambda v: (optional and v is None) or (_is_int(v) and (low is None or v >= low) and (high is None or v <= high)),
                expected)


def number(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Rule:
    left = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    right = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    if low is not None and high is not None:
        expected = f"a number in {left}, {right}"
    elif low is not None:
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        expected = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        expected = "a finite number"

    def check(v: Any) -> bool:
        if not _is_number(v):
            return False
        if low is not None and (v <= low if low_open else v < low):
            return False
        return high is None or (v < high if high_open else v <= high)

    return Rule(check, expected)


def choice(*values: str) -> Rule:
    return Rule(lambda v: v in values, "one of " + ", ".join(values))


def text(optional: bool = False) -> Rule:
    return Rule(lambda v: (optional and v is None) or (isinstance(v, str) and v.strip() != ""),
                ("null or " if optional else "") + "a non-empty string")


def flag() -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false")


def sequence(item: Rule, length: int | None = None, optional: bool = False, what: str = "") -> Rule:
    size = f"{length} " if length else "one or more "
    expected = ("null or " if optional else "") + f"a list of {size}" + (what or f"values, each {item.expected}")

    def check(v: Any) -> bool:
        if optional and v is None:
            return True
        if not isinstance(v, (list, tuple)) or not v or (length is not None and len(v) != length):
            return False
        return all(item.check(x) for x in v)

    return Rule(check, expected)


RULES: dict[str, Rule] = {
    "preset": text(),
    "checkpoint": text(optional=True),  # null in the real-data presets: --checkpoint must name it
    "out": text(),
    "seed": integer(0, MAX_SEED),
    "threads": integer(1, optional=True),
    "frozen_train_mode": flag(),
    "checkpoint_every": integer(1),
    "log_every": integer(1),
    "tensorboard": flag(),
    "progress": flag(),
    "data.dataset": text(),
    "data.root": text(optional=True),  # null in the real-data presets: --cityscapes must name it
    "data.split": text(),
    "data.max_images": integer(1, optional=True),
    "data.benchmark_seed": integer(0, MAX_SEED),
    "data.benchmark_version": choice(*BENCHMARK_VERSIONS),
    "data.size": Rule(lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)
                      and v[0] >= 64 and v[1] >= 128, "[height, width]: two integers, at least [64, 128]"),
    "data.outlier_source": choice(*OUTLIER_SOURCES),
    "data.outlier_root": text(optional=True),
    "data.outlier_class_fraction": number(0, 1, low_open=True),
    "data.outlier_sample_fraction": number(0, 1, low_open=True),
    "data.mix_probability": number(0, 1),
    "data.mix_scale_range": sequence(number(0, low_open=True), 2, optional=True, what="numbers > 0 [low, high]"),
    "data.mix_placement": choice(*MIX_PLACEMENTS),
    "data.flip_probability": number(0, 1),
    "data.scales": sequence(number(0, low_open=True), what="numbers > 0"),
    "data.scale_range": sequence(number(0, low_open=True), 2, optional=True, what="numbers > 0 [low, high]"),
    "data.extra_mixed_fraction": number(0),
    "data.crop": sequence(integer(1), 2, optional=True, what="integers >= 1 [height, width]"),
    "data.num_workers": integer(0),
    "loss.method": choice(*LOSS_METHODS),
    "loss.variant": choice(*LOSS_VARIANTS),
    "loss.margins": choice(*MARGIN_MODES),
    "loss.m_in": number(),
    "loss.m_out": number(),
    "loss.auto_in_quantile": number(0, 1, low_open=True, high_open=True),
    "loss.auto_out_quantile": number(0, 1, low_open=True, high_open=True),
    "loss.energy_weight": number(0),
    "optim.lr": number(0),
    "optim.batch_size": integer(1),
    "optim.epochs": integer(1),
    "optim.max_steps": integer(1, optional=True),
    "optim.poly_power": number(0),
}

#: (key named in the error, holds(cfg), expected, found(cfg)): relations between fields.
RELATIONS: tuple[tuple[str, Callable[[Any], bool], str, Callable[[Any], Any]], ...] = (
    ("loss.m_in", lambda c: c.loss.margins != "fixed" or c.loss.m_in < c.loss.m_out,
     "m_in < m_out with fixed margins (inliers below m_in, outliers above m_out)",
     lambda c: (c.loss.m_in, c.loss.m_out)),
    ("loss.auto_in_quantile", lambda c: c.loss.auto_in_quantile < c.loss.auto_out_quantile,
     "auto_in_quantile < auto_out_quantile", lambda c: (c.loss.auto_in_quantile, c.loss.auto_out_quantile)),
    ("data.scale_range", lambda c: c.data.scale_range is None or c.data.scale_range[0] <= c.data.scale_range[1],
     "low <= high", lambda c: c.data.scale_range),
    ("data.mix_scale_range", lambda c: c.data.mix_scale_range is None or c.data.mix_scale_range[0] <= c.data.mix_scale_range[1],
     "low <= high", lambda c: c.data.mix_scale_range),
)


#: The rule of every field of :class:`pebal.training.pretrain.PretrainConfig` (``pebal pretrain``).
PRETRAIN_RULES: dict[str, Rule] = {
    "data_root": text(),
    "data_seed": integer(0, MAX_SEED),
    "data_version": RULES["data.benchmark_version"],
    "size": RULES["data.size"],
    "output": text(),
    "architecture": text(),
    "num_classes": integer(1),
    "model_kwargs": Rule(lambda v: isinstance(v, dict), "a mapping of model keyword arguments"),
    "seed": integer(0, MAX_SEED),
    "steps": integer(1),
    "time_budget_s": Rule(lambda v: v is None or (_is_number(v) and v > 0), "null or a finite number > 0"),
    "batch_size": integer(1),
    "lr": number(0, low_open=True),
    "weight_decay": number(0),
    "warmup_steps": integer(0),
    "poly_power": number(0),
    "scale_range": sequence(number(0, low_open=True), 2, what="numbers > 0 [low, high]"),
    "crop_size": sequence(integer(1), 2, optional=True, what="integers >= 1 [height, width]"),
    "colour_jitter": number(0, 1),
    "class_weight_power": number(0),
    "max_class_weight": number(1),
    "ohem_fraction": Rule(lambda v: v is None or (_is_number(v) and 0 < v <= 1), "null or a number in (0, 1]"),
    "threads": integer(1),
    "eval_every": integer(0),  # 0: evaluate only at the end
    "log_every": integer(1),
    "max_train_images": integer(1, optional=True),
    "max_val_images": integer(1, optional=True),
    "init_checkpoint": text(optional=True),
}

PRETRAIN_RELATIONS: tuple[tuple[str, Callable[[Any], bool], str, Callable[[Any], Any]], ...] = (
    ("scale_range", lambda c: c.scale_range[0] <= c.scale_range[1], "low <= high", lambda c: c.scale_range),
)


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optim.lr": 1e-4, ...}``: every leaf field of a (nested) config dataclass by dotted key."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def validate_config(cfg: Any, source: str | None = None, rules: dict[str, Rule] | None = None,
                    relations=None) -> Any:
    """Check every field of ``cfg`` (a :class:`~pebal.config.TrainConfig`, or with
    ``rules=PRETRAIN_RULES, relations=PRETRAIN_RELATIONS`` a pretraining config); return it unchanged.

    Raises :class:`~pebal.errors.ConfigError` listing every key whose value is not allowed;
    ``source`` (a file name) is added to the message.
    """
    rules = RULES if rules is None else rules
    relations = RELATIONS if relations is None else relations
    problems: list[ConfigError] = []
    values = flatten(cfg)
    for key, value in values.items():
        rule = rules.get(key)
        if rule is not None and not rule.check(value):
            problems.append(ConfigError(key, rule.expected, value))
    if not problems:  # relations only between fields that are valid on their own
        for key, holds, expected, found in relations:
            if not holds(cfg):
                problems.append(ConfigError(key, expected, found(cfg)))
    if problems:
        first = problems[0]
        raise ConfigError(first.key, first.expected, first.found, source=source, more=problems[1:])
    return cfg
