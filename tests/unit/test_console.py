"""What the console says: one seed without a spread, the help that shows how to cap steps,
every config key of a preset."""

from __future__ import annotations

import pytest
import yaml

from pebal.cli import main
from pebal.experiments.tables import _pm


def test_one_seed_shows_no_spread_and_several_seeds_do():
    assert _pm({"mean": 0.1234, "std": 0.0, "per_seed": [0.1234]}) == "12.34"
    assert _pm({"mean": 0.1234, "std": 0.01, "per_seed": [0.11, 0.13]}) == "12.34 ± 1.00"
    assert _pm(None) == "—"


def test_train_help_shows_how_to_cap_steps(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--set optim.max_steps=50" in out and "pebal info --config" in out


@pytest.mark.parametrize("preset", ["embedded", "paper"])
def test_info_config_prints_every_key_of_a_preset(preset, capsys):
    from pebal.config import load_config

    assert main(["info", "--config", preset]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == yaml.safe_load(yaml.safe_dump(load_config(preset).to_dict()))
    assert "max_steps" in printed["optim"]


def test_info_config_refuses_an_unknown_preset(capsys):
    assert main(["info", "--config", "bogus"]) == 2
    assert "unknown preset 'bogus'" in capsys.readouterr().err


def test_breakdown_table_keeps_one_column_per_view():
    from pebal.experiments.tables import breakdown_markdown

    views = ["road-obstacles | <64 px", "road-obstacles | >=256 px"]
    entry = {"mean": 0.5, "std": 0.0, "per_seed": [0.5]}
    results = {"rows": [{"label": "PEBAL", "metrics": {v: {"ap": entry} for v in views}}]}
    header, rule, row = breakdown_markdown(results, views, "ap").splitlines()
    cells = lambda line: [c for c in line.replace("\\|", "").split("|") if c.strip()]  # noqa: E731
    assert len(cells(header)) == len(cells(row)) == 3 and "road-obstacles \\| <64 px" in header
