"""The fault-injection cases as data: what a user does, what pebal says, the exit code.

Each case is run by a function registered under its ``id`` in one of the ``test_*.py``
modules of this folder; :func:`expect` checks the outcome against the row, and the README's
"What happens when things go wrong" table is :func:`render_table` of these rows
(``python tests/faults/fault_cases.py --write-readme`` rewrites it; a test checks it).

Exit codes (:mod:`pebal.errors`): 0 success, 1 the run failed, 2 bad input, 3 a bug.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # what the user does (README: "case")
    message: str  # appears in the command's error line (or in its output when it succeeds)
    exit_code: int | None  # None: a library call that raises (``raises`` names the error)
    raises: str = ""
    one_line: bool = True  # the failure is one ``pebal CMD: error: ...`` line on stderr
    group: str = ""  # consecutive cases of one group share one README row (this text, the first message)
    pending: str = ""  # not fixed on this branch: who fixes it (the test is xfail(strict=True))


@dataclass
class Outcome:
    code: int | None
    out: str = ""
    err: str = ""


G_CONFIG = ("a config value of the wrong type, out of range or not allowed (`train`, `demo`, `experiment`): "
            "`optim.epochs=-1`, `optim.batch_size=0`, `data.size=[1,2,3]`, `--seed -1`, `threads=-1`, "
            "`loss.method=123`, `checkpoint_every=0`, `optim.max_steps=0`, `optim.lr=nan`")
G_NAN_CHECKPOINT = "`pebal evaluate` / `train` (and `predict`) on a checkpoint with NaN weights"
G_FLAGS = ("a bad flag value: `--score-range 0 -5`, `--colormap nope`, `--batch-size 0`, `--device bogus` "
           "(`predict`, `evaluate`, `calibrate`, ...)")
G_NAMES = "an unknown key or name: `pebal pretrain --config F.yaml`, `export-scores --dataset nope`, `experiment nope`"
G_IMAGES = "`pebal predict` on a corrupt, truncated or zero-byte image (the other inputs are predicted)"

CASES: tuple[Case, ...] = (
    # data safety and silent corruption
    Case("synth-foreign-files", "`pebal synth --out DIR --seed 1` where `DIR/inlier/` also holds your files",
         "were not written by pebal synth", 2),
    Case("train-foreign-files", "`pebal train --set data.root=DIR` where `DIR/test/` holds your files",
         "were not written by pebal synth", 2),
    Case("train-other-version", "`pebal train --set data.root=DIR` (or `demo`) where `DIR` holds benchmark v1; "
         "the default is v3", "is version 1, but the config asks for version 3", 2),
    Case("synth-truncated-png", "a cached PNG was truncated after `pebal synth`; run it again",
         "damaged or missing: inlier/train/images/00001.png", 0),
    Case("synth-verify", "a cached PNG changed but kept its size; `pebal synth --verify`",
         "(sha256 differs); re-rendering them", 0),
    Case("kill-synth", "`kill -9` during `pebal synth`, then the same command again",
         "benchmark ready", 0, one_line=False),
    Case("kill-train", "`kill -9` during `pebal train`, then `pebal train --resume`",
         "fine-tuned checkpoint", 0, one_line=False),
    Case("kill-predict", "`kill -9` during `pebal predict --out DIR`, then the same command again (resumes)",
         "predicted 8 image(s)", 0, one_line=False),
    Case("predict-rerun-fewer", "`pebal predict --out DIR` into a folder that holds an earlier prediction",
         "predicted 4 image(s)", 0, one_line=False),
    # silently wrong with exit 0
    Case("resume-other-config", "`pebal train --resume --set optim.lr=1e-3` on a run started with 1e-4",
         "cannot resume", 2),
    Case("resume-logging-change", "`pebal train --resume --set log_every=5` (a key that cannot change the weights)",
         "resume: changed keys that do not affect the weights: log_every", 0, one_line=False),
    Case("config-epochs", "`--set optim.epochs=-1`",
         "config key optim.epochs: expected an integer >= 1, found -1", 2, group=G_CONFIG),
    Case("config-batch-size", "`--set optim.batch_size=0`",
         "config key optim.batch_size: expected an integer >= 1", 2, group=G_CONFIG),
    Case("config-size", "`--set data.size=[1,2,3]`",
         "config key data.size: expected [height, width]", 2, group=G_CONFIG),
    Case("config-seed", "`--seed -1`",
         "config key seed: expected an integer in [0, 4294967295], found -1", 2, group=G_CONFIG),
    Case("config-threads", "`--set threads=-1`",
         "config key threads: expected null or an integer >= 1", 2, group=G_CONFIG),
    Case("config-loss-method", "`--set loss.method=123`",
         "config key loss.method: expected one of pebal, pal_ebm", 2, group=G_CONFIG),
    Case("config-checkpoint-every", "`--set checkpoint_every=0`",
         "config key checkpoint_every: expected an integer >= 1", 2, group=G_CONFIG),
    Case("config-max-steps", "`--set optim.max_steps=0`",
         "config key optim.max_steps: expected null or an integer >= 1", 2, group=G_CONFIG),
    Case("config-demo", "`pebal demo --set optim.lr=nan`",
         "config key optim.lr: expected a finite number >= 0", 2, group=G_CONFIG),
    Case("nan-loss", "the loss becomes NaN during `pebal train` (e.g. `--set optim.lr=1e30`)",
         "became NaN or infinite at step", 1),
    Case("nan-checkpoint-evaluate", "`pebal evaluate` on a checkpoint with NaN weights",
         "holds NaN or infinite weights", 2, group=G_NAN_CHECKPOINT),
    Case("nan-checkpoint-train", "`pebal train` from a checkpoint with NaN weights",
         "holds NaN or infinite weights", 2, group=G_NAN_CHECKPOINT),
    Case("nan-scores", "`pixel_metrics` / `AnomalyMetrics` given NaN or inf scores", "are not finite", None,
         raises="MetricInputError"),
    # the error contract of the command line
    Case("flag-score-range", "`pebal predict --score-range 0 -5`",
         "argument --score-range: expected LOW < HIGH", 2, group=G_FLAGS),
    Case("flag-colormap", "`pebal predict --colormap nope`",
         "argument --colormap: expected a matplotlib colormap", 2, group=G_FLAGS),
    Case("flag-batch-size", "`pebal predict --batch-size 0` (also `evaluate`)",
         "argument --batch-size: expected an integer >= 1", 2, group=G_FLAGS),
    Case("flag-device", "`pebal evaluate --device bogus` (also `predict`, `calibrate`, ...)",
         "argument --device: expected auto, cpu, cuda", 2, group=G_FLAGS),
    Case("missing-class", "`pebal calibrate` on labels without an anomaly pixel", "no anomaly (label 1) pixel", 2),
    Case("checkpoint-metadata", "a checkpoint whose metadata lacks `architecture`",
         "metadata key 'architecture' is missing", 2),
    Case("checkpoint-kwargs", "a checkpoint whose `model_kwargs` the model does not take",
         "does not describe a model this pebal can build", 2),
    Case("checkpoint-pickle-named-safetensors", "a `torch.save` pickle named `.safetensors`",
         "expected 'module.' (NVIDIA's cityscapes checkpoint) or 'branch1.'", 2),
    Case("checkpoint-truncated", "a truncated `.safetensors` file", "is not a readable safetensors file", 2),
    Case("checkpoint-missing-keys", "a checkpoint that lacks a weight", "missing keys (1)", 2),
    Case("checkpoint-malicious-pickle", "a `.pth` whose pickle would run a command",
         "could execute code when loaded", 2),
    Case("checkpoint-not-found", "`--checkpoint` names no file", "does not exist", 2),
    Case("pretrain-config", "`pebal pretrain --config F.yaml` with an unknown key",
         "has unknown keys ['stepz']", 2, group=G_NAMES),
    Case("export-scores-dataset", "`pebal export-scores --dataset nope`", "unknown data set", 2, group=G_NAMES),
    Case("experiment-name", "`pebal experiment nope`", "unknown experiment 'nope'", 2, group=G_NAMES),
    Case("data-check-missing-root", "`pebal data check` on a folder that does not exist (a check that fails)",
         "image folder", 1, one_line=False),
    Case("internal-error", "an unexpected exception inside a command (a bug)",
         "internal error: RuntimeError: boom (a bug: rerun with --debug", 3),
    # cases that already worked: images, labels, outliers
    Case("image-corrupt", "`pebal predict` on a corrupt image (the other inputs are predicted)",
         "(the file is corrupt, truncated or not an image)", 1, one_line=False, group=G_IMAGES),
    Case("image-truncated", "... on a truncated PNG", "(the file is corrupt, truncated or not an image)", 1,
         one_line=False, group=G_IMAGES),
    Case("image-zero-byte", "... on a zero-byte file", "(the file is corrupt, truncated or not an image)", 1,
         one_line=False, group=G_IMAGES),
    Case("image-16-bit", "... on a 16-bit PNG", "16/32-bit or float", 1, one_line=False),
    Case("image-rgba", "... on an RGBA PNG (converted to RGB)", "predicted 1 image(s)", 0, one_line=False),
    Case("label-wrong-size", "`pebal evaluate --dataset folder` with a label of another size",
         "size mismatch: label", 2),
    Case("label-unknown-value", "... with a label value outside 0 / 1 / 255", "values [7] outside [0, 1, 255]", 2),
    Case("outlier-pool-empty", "`pebal train --set data.outlier_source=rgba-folder` on an empty folder",
         "the outlier pool is empty", 2),
)

BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "duplicate case ids"


def snapshot(*roots: Path, skip: Path | None = None) -> dict[str, tuple[int, int, int]]:
    """``{path: (size, mtime_ns, inode)}`` of every file under ``roots`` except under ``skip``:
    a write, a truncation, an atomic replace or a deletion all change it."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            if skip is not None and Path(folder).resolve().is_relative_to(skip.resolve()):
                continue
            for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.join(folder, name)
                st = os.lstat(path)
                found[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def registry():
    """``(runners, fault)``: ``@fault("case-id")`` registers a runner ``(box, run_cli) -> Outcome``."""
    runners: dict = {}

    def fault(case_id: str):
        assert case_id in BY_ID, f"no row for case {case_id!r} in CASES"

        def register(function):
            runners[case_id] = function
            return function

        return register

    return runners, fault


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("pebal ") and ": error: " in line
            or "internal error:" in line]


def expect(case_id: str, outcome: Outcome) -> None:
    """Assert that ``outcome`` is what the row ``case_id`` says."""
    case = BY_ID[case_id]
    if case.exit_code is None:
        assert case.message in outcome.err, outcome.err
        return
    assert outcome.code == case.exit_code, (outcome.code, outcome.err[-2000:])
    assert "Traceback" not in outcome.err, outcome.err[-2000:]
    assert case.message in outcome.out + outcome.err, (case.message, outcome.out[-1500:], outcome.err[-1500:])
    if case.exit_code != 0 and case.one_line:
        lines = error_lines(outcome.err)
        assert len(lines) == 1, outcome.err
        assert outcome.err.rstrip().splitlines()[-1] == lines[0], "the error line is the last line on stderr"
        assert case.message in lines[0]


def render_table() -> str:
    """The README table: one row per case, or per group of consecutive cases."""
    rows = ["| case | what pebal says | exit code |", "|---|---|---:|"]
    index = 0
    while index < len(CASES):
        case = CASES[index]
        members = [case]
        while case.group and index + len(members) < len(CASES) and CASES[index + len(members)].group == case.group:
            members.append(CASES[index + len(members)])
        assert len({m.exit_code for m in members}) == 1, f"group {case.group!r} mixes exit codes"
        code = f"raises `{case.raises}`" if case.exit_code is None else str(case.exit_code)
        what = case.group or case.what
        if case.pending:
            what += f" (**open**, fixed by {case.pending.split(':')[0]})"
        rows.append(f"| {what} | `{case.message}` | {code} |")
        index += len(members)
    return "\n".join(rows) + "\n"


START, END = "<!-- faults-table:start -->", "<!-- faults-table:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START):text.index(END)].strip("\n") + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-readme"]:
        text = README.read_text()
        head, rest = text.split(START)
        _, tail = rest.split(END)
        README.write_text(f"{head}{START}\n{render_table()}{END}{tail}")
    else:
        print(render_table())
