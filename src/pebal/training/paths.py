"""The files a fine-tuning run depends on: required, absolute, and identified by content.

* :func:`require_paths` refuses a config whose data or checkpoint is missing, naming the
  command-line flag and the config key that provide it (the real-data presets name no path:
  they never fall back to the embedded benchmark).
* :func:`absolute_paths` turns every path of a config into an absolute one before a run
  records it, so a checkpoint's metadata and ``config.yaml`` stay valid from any folder.
* :func:`base_checkpoint_record` / :func:`find_base_checkpoint`: a fine-tuned checkpoint
  records the checkpoint it started from (absolute path and SHA-256 of its bytes);
  ``pebal evaluate`` reads its post-hoc baselines from that file and refuses, saying what to
  pass, when the file is gone or is no longer the same.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from pebal.config import TrainConfig
from pebal.paths import file_sha256

#: config key -> the command-line flag of ``pebal train`` / ``pebal experiment`` that sets it.
FLAGS = {"data.root": "--cityscapes ROOT", "data.outlier_root": "--coco ROOT", "checkpoint": "--checkpoint FILE"}


def _missing(key: str, what: str, path: str | None) -> str | None:
    flag = FLAGS.get(key, f"--set {key}=PATH")
    if path is None or str(path) == "":
        return f"{what}: not given (pass {flag}, or set {key})"
    if not Path(path).exists():
        return f"{what}: {key} = {path} does not exist (from {Path.cwd()}; pass {flag})"
    return None


def require_paths(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` listing every missing input of a fine-tuning run.

    Checks the pretrained checkpoint, the inlier data root (the embedded benchmark is
    generated when absent, so its root may not exist yet) and the outlier root of any
    outlier source but the embedded one; the embedded outlier pool belongs to the embedded
    benchmark and is refused for real inlier data. An embedded benchmark folder that holds
    another version than ``data.benchmark_version`` is refused (``InputError``).
    """
    d = cfg.data
    synthetic = d.dataset.startswith("synthetic")
    problems = [_missing("checkpoint", "pretrained checkpoint", cfg.checkpoint)]
    if not synthetic:
        problems.append(_missing("data.root", f"inlier training data ({d.dataset})", d.root))
    elif d.root is None:
        problems.append(f"inlier training data ({d.dataset}): data.root is not set")
    if d.outlier_source == "embedded":
        if not synthetic:
            problems.append(f"outlier exposure: the embedded outlier pool goes with the embedded benchmark, not "
                            f"with {d.dataset} (pass --coco ROOT, or set data.outlier_source and data.outlier_root)")
    else:
        problems.append(_missing("data.outlier_root", f"outlier exposure ({d.outlier_source})", d.outlier_root))
    problems = [p for p in problems if p is not None]
    if problems:
        raise ValueError(f"the {cfg.preset} preset cannot start:\n  - " + "\n  - ".join(problems))
    if synthetic:  # an embedded benchmark of another version than the config's: refused before any file is written
        from pebal.data.synthetic.cache import require_version

        require_version(d.root, d.benchmark_version)


def absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """A copy of ``cfg`` whose checkpoint, data roots and run folder are absolute paths."""
    out = copy.deepcopy(cfg)

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().absolute())

    out.checkpoint = absolute(out.checkpoint)
    out.out = absolute(out.out)
    out.data.root = absolute(out.data.root)
    out.data.outlier_root = absolute(out.data.outlier_root)
    return out


def base_checkpoint_record(path: str | os.PathLike) -> dict[str, str]:
    """The metadata a fine-tuned checkpoint keeps about the checkpoint it started from."""
    return {"base_checkpoint": str(Path(path).expanduser().absolute()), "base_checkpoint_sha256": file_sha256(path)}


class BaseCheckpointError(ValueError):
    """The checkpoint a fine-tuned model started from cannot be found or has changed."""


def find_base_checkpoint(finetuned: str | os.PathLike, metadata: dict, explicit: str | None = None) -> tuple[str | None, str | None]:
    """``(path, warning)`` of the model before fine-tuning, for the post-hoc baselines.

    ``explicit`` (``--pretrained``) wins; a SHA-256 that differs from the recorded one gives a
    warning (the baselines then come from another model). Otherwise the recorded path is
    used and must exist with the recorded content, else :class:`BaseCheckpointError` says
    what to pass. ``(None, None)`` when nothing is recorded (a checkpoint not made by
    ``pebal train``).
    """
    recorded = metadata.get("base_checkpoint")
    digest = metadata.get("base_checkpoint_sha256")
    if explicit is not None:
        if not Path(explicit).is_file():
            raise BaseCheckpointError(f"--pretrained {explicit} does not exist (from {Path.cwd()})")
        if digest is not None and file_sha256(explicit) != digest:
            return str(explicit), (f"--pretrained {explicit} is not the checkpoint {finetuned} was fine-tuned from "
                                   f"(recorded: {recorded}, sha256 {digest[:12]}...): the baselines come from it all the same")
        return str(explicit), None
    if recorded is None:
        return None, None
    if not Path(recorded).is_file():
        raise BaseCheckpointError(
            f"{finetuned} was fine-tuned from {recorded}, which does not exist (from {Path.cwd()}): pass "
            f"--pretrained PATH, the checkpoint it started from" + (f" (sha256 {digest})" if digest else ""))
    if digest is not None and file_sha256(recorded) != digest:
        raise BaseCheckpointError(
            f"{finetuned} was fine-tuned from {recorded} (sha256 {digest}), but that file has changed since: pass "
            "--pretrained PATH, the checkpoint it started from")
    return str(recorded), None
