"""Guards of a fine-tuning run: resume only the run the config describes; stop on NaN.

* :func:`config_fingerprint` — SHA-256 of the resolved config (canonical JSON), stored with
  the config itself in every training state (``train_state.pt``).
* :func:`check_resume` — ``--resume`` with a config that differs from the stored one is
  refused with :class:`~pebal.errors.ResumeMismatchError` naming every differing key, unless
  the key cannot change the trained weights (:data:`SAFE_TO_CHANGE`: where the run is written,
  logging, progress, threads, loader processes), in which case the change is reported.
* :func:`check_finite_step` — a loss or gradient that is NaN / inf ends the run with
  :class:`~pebal.errors.NonFiniteError` before the optimizer applies it, so the last
  training state on disk stays a good one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from pebal.errors import NonFiniteError, ResumeMismatchError

#: Keys a resumed run may change: none of them changes a weight of the trained model.
SAFE_TO_CHANGE = frozenset({
    "preset",  # a label: every value it sets is compared on its own
    "out", "threads", "log_every", "checkpoint_every", "tensorboard", "progress", "data.num_workers",
})


def plain(value: Any) -> Any:
    """Dicts, lists, numbers and strings only (tuples become lists), as JSON and YAML store them."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def config_fingerprint(config: dict) -> str:
    """SHA-256 hex digest of ``config`` as canonical JSON (sorted keys, tuples as lists)."""
    return hashlib.sha256(json.dumps(plain(config), sort_keys=True).encode()).hexdigest()


def _flat(config: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(stored: dict, given: dict) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (stored value, given value)}`` for every key whose values differ."""
    a, b = _flat(plain(stored)), _flat(plain(given))
    missing = object()
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)}


def _stored_config(state: dict, state_path: Path) -> dict | None:
    if isinstance(state.get("config"), dict):
        return state["config"]
    # a state written before configs were stored: the run folder's config.yaml was written
    # when the run started, before its first state
    saved = state_path.parent / "config.yaml"
    if saved.is_file():
        import yaml

        loaded = yaml.safe_load(saved.read_text())
        return loaded if isinstance(loaded, dict) else None
    return None


def check_resume(state_path: str | Path, config: dict, log=print) -> None:
    """Refuse to resume the training state at ``state_path`` with ``config`` (the resolved
    config as a dict) when a key outside :data:`SAFE_TO_CHANGE` differs from the one the run
    was started with; ``log`` receives a note about the safe keys that changed."""
    state_path = Path(state_path)
    if not state_path.is_file():
        return
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    stored = _stored_config(state, state_path)
    if stored is None:  # nothing to compare with but the seed, stored by every version
        stored = {"seed": state.get("seed")}
        config = {"seed": config.get("seed")}
    differences = config_differences(stored, config)
    unsafe = {k: v for k, v in differences.items() if k not in SAFE_TO_CHANGE}
    if unsafe:
        listed = "; ".join(f"{k}: {old!r} in the run, {new!r} given" for k, (old, new) in list(unsafe.items())[:8])
        more = f" and {len(unsafe) - 8} more" if len(unsafe) > 8 else ""
        raise ResumeMismatchError(
            f"cannot resume {state_path} (step {state.get('step')}): the config differs from the run's in "
            f"{len(unsafe)} key(s) that change the trained model: {listed}{more}. Resume with the run's own "
            f"config (pebal train --config {state_path.parent / 'config.yaml'} --resume) or train into a new --out")
    if differences and log is not None:
        log("resume: changed keys that do not affect the weights: "
            + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in differences.items()))


def check_finite_step(loss: torch.Tensor, parts: dict[str, torch.Tensor], params: Iterable[torch.Tensor],
                      step: int, state_path: str | Path | None, lr: float) -> None:
    """Raise :class:`~pebal.errors.NonFiniteError` if ``loss`` or a gradient of ``params`` is
    NaN / inf at optimiser step ``step`` (1-based), before the step is applied; ``state_path``
    is the run's last training state (None: the run keeps none).

    Under DistributedDataParallel the gradients are averaged over processes, so a NaN loss on
    one process makes every process's gradients NaN and every process stops at the same step.
    """
    grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)
    if bool(torch.isfinite(loss.detach())) and grads_finite:
        return
    what = "the loss" if not bool(torch.isfinite(loss.detach())) else "a gradient"
    shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
    if state_path is not None and Path(state_path).is_file():
        kept = f"the last good training state is {state_path}"
    else:
        kept = "no training state was written"
    raise NonFiniteError(
        f"{what} became NaN or infinite at step {step} (loss {float(loss.detach()):.4g}"
        f"{'; ' + shown if shown else ''}); the step was not applied and {kept}; no model checkpoint was written. "
        f"Lower the learning rate (now {lr:g}) or check the training data and the starting checkpoint")
