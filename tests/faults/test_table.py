"""Every row of the fault table is run by a test, and the README's table is the suite's."""

from __future__ import annotations

import importlib

from faults.fault_cases import CASES, readme_table, render_table

MODULES = ("test_cli_inputs", "test_training_faults", "test_synth_faults", "test_kill")


def test_every_case_has_exactly_one_runner():
    owners: dict[str, list[str]] = {}
    for name in MODULES:
        for case_id in importlib.import_module(f"faults.{name}").RUNNERS:
            owners.setdefault(case_id, []).append(name)
    assert sorted(owners) == sorted(c.id for c in CASES), "cases without a runner or runners without a row"
    assert all(len(found) == 1 for found in owners.values())


def test_readme_section_is_the_suites_table():
    assert readme_table() == render_table(), (
        "README 'What happens when things go wrong' differs from tests/faults/fault_cases.py; "
        "regenerate it with: python tests/faults/fault_cases.py --write-readme")
