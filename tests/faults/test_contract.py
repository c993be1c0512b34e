"""The error contract of every ``pebal`` command: one line on stderr, a documented exit code,
the traceback with ``--debug`` or ``PEBAL_DEBUG=1``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from faults.fault_cases import error_lines
from pebal.cli import _COMMAND_MODULES
from pebal.cli.contract import exit_code_of, one_line
from pebal.errors import (CacheConflictError, ConfigError, InputError, NonFiniteError, PebalError, ResumeMismatchError,
                          RunError)

#: One bad input per command: (argv after ``pebal``, text in the error line, exit code).
PER_COMMAND = {
    "info": (["info", "--bogus-flag"], "unrecognized arguments: --bogus-flag", 2),
    "synth": (["synth", "--out", "{tmp}/b", "--size", "32x64"], "size must be at least 64x128", 2),
    "demo": (["demo", "--out", "{tmp}/d", "--set", "optim.epochs=0"], "config key optim.epochs", 2),
    "train": (["train", "--out", "{tmp}/t", "--set", "data.mix_probability=2"],
              "config key data.mix_probability: expected a number in [0, 1], found 2", 2),
    "evaluate": (["evaluate", "--checkpoint", "{tmp}/none.safetensors", "--out", "{tmp}/e"],
                 "checkpoint {tmp}/none.safetensors does not exist", 2),
    "pretrain": (["pretrain", "--config", "{tmp}/missing.yaml"], "does not exist", 2),
    "predict": (["predict", "x.png", "--checkpoint", "c", "--out", "{tmp}/p", "--overlap", "1.5"],
                "argument --overlap: expected a number in [0, 1), found 1.5", 2),
    "calibrate": (["calibrate", "--checkpoint", "c", "--dataset", "{tmp}/nofolder"], "checkpoint c does not exist", 2),
    "export": (["export", "--checkpoint", "{tmp}/none.safetensors"], "does not exist", 2),
    "data": (["data", "check", "--dataset", "nope", "--root", "{tmp}"], "unknown data set 'nope'", 2),
    "export_scores": (["export-scores", "--checkpoint", "c", "--dataset", "nope", "--root", "{tmp}", "--out", "{tmp}/s"],
                      "unknown data set 'nope'", 2),
    "experiment": (["experiment", "methods", "--seeds", "-1"], "argument --seeds: expected an integer >= 0", 2),
}


def test_every_command_has_a_case():
    assert sorted(PER_COMMAND) == sorted(m.rsplit(".", 1)[1] for m in _COMMAND_MODULES)


@pytest.mark.parametrize("command", sorted(PER_COMMAND))
def test_each_command_fails_with_one_line_and_its_code(command, tmp_path, run_cli):
    argv, message, code = PER_COMMAND[command]
    outcome = run_cli(*(a.format(tmp=tmp_path) for a in argv))
    assert outcome.code == code, outcome.err
    lines = error_lines(outcome.err)
    assert len(lines) == 1 and message.format(tmp=tmp_path) in lines[0], outcome.err
    assert outcome.err.rstrip().splitlines()[-1] == lines[0] and "Traceback" not in outcome.err
    prog = "pebal " + argv[0] + (" check" if command == "data" else "")
    assert lines[0].startswith(f"{prog}: error: ")


def test_debug_flag_and_environment_print_the_traceback(tmp_path, run_cli, monkeypatch):
    argv = ["evaluate", "--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "e")]
    for outcome in (run_cli("--debug", *argv), run_cli(*argv, "--debug")):
        assert outcome.code == 2 and "Traceback (most recent call last)" in outcome.err
        assert outcome.err.rstrip().splitlines()[-1].startswith("pebal evaluate: error: checkpoint")
    monkeypatch.setenv("PEBAL_DEBUG", "1")
    assert "Traceback" in run_cli(*argv).err
    monkeypatch.setenv("PEBAL_DEBUG", "0")
    assert "Traceback" not in run_cli(*argv).err


def test_interrupt_is_130_and_help_is_0(run_cli, monkeypatch):
    import pebal.cli.info

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pebal.cli.info, "run", interrupted)
    outcome = run_cli("info")
    assert outcome.code == 130 and outcome.err.strip() == "pebal info: error: interrupted"
    assert run_cli("--help").code == 0 and run_cli().code == 2


def test_the_installed_entry_point_follows_the_contract(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pebal", "evaluate", "--checkpoint", str(tmp_path / "no.safetensors"),
                             "--out", str(tmp_path / "e")], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PEBAL_DEBUG"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"pebal evaluate: error: checkpoint {tmp_path}/no.safetensors does not exist"]


def test_the_hierarchy_and_the_mapping_of_other_errors():
    from pebal.data.image_io import ImageReadError
    from pebal.inference.video import VideoReadError
    from pebal.metrics import MetricInputError, MissingClassError, NoComponentsError
    from pebal.models.state_dict import CheckpointError

    for cls in (CheckpointError, ImageReadError, VideoReadError, MetricInputError, NoComponentsError,
                ConfigError, ResumeMismatchError, CacheConflictError):
        assert issubclass(cls, InputError) and issubclass(cls, ValueError)
    assert exit_code_of(MissingClassError(0, 5)) == 2
    assert exit_code_of(NonFiniteError("x")) == 1 and issubclass(NonFiniteError, RunError)
    assert issubclass(RunError, PebalError) and issubclass(RunError, RuntimeError)
    assert exit_code_of(FileNotFoundError(2, "No such file", "x")) == 2
    assert exit_code_of(OSError(28, "No space left on device")) == 1
    assert exit_code_of(ValueError("raised by a library, not by pebal")) == 3
    assert exit_code_of(ZeroDivisionError()) == 3
    assert exit_code_of(KeyboardInterrupt()) == 130


def test_config_error_names_every_key_expected_and_found():
    error = ConfigError("optim.epochs", "an integer >= 1", -1, more=[ConfigError("seed", "an integer >= 0", -3)])
    assert str(error) == ("config key optim.epochs: expected an integer >= 1, found -1; "
                          "config key seed: expected an integer >= 0, found -3")


def test_one_line_folds_a_list_of_problems():
    assert one_line("checkpoint c does not match:\n  missing keys (1): a\n  wrong shapes (1): b") == \
        "checkpoint c does not match: missing keys (1): a; wrong shapes (1): b"
